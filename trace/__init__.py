from cradletrace import recursionlimit

recursionlimit.install()
