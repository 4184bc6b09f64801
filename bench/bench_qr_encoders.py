"""Why labels are encoded with zxing-cpp: QR codes per second of the encoders one could use.

    .venv/bin/python bench/bench_qr_encoders.py            # 3 000 codes per encoder
    .venv/bin/python -m pip install qrcode segno           # to compare those two as well

Each encoder makes the same symbol cradletrace prints (a GS1 Digital Link URI with a random
serial, error correction M, byte mode, smallest version) as a module matrix, the form the label
renderers draw from. Prints codes/s per encoder and its ratio to zxing-cpp's, measured in the
same run; encoders that are not installed are listed as such. Figures only, no pass/fail.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Callable

from cradletrace.labels.commission import qr_symbol

ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
PREFIX = "https://id.cradletrace.example/01/94219029601016/10/IF-0001/21/"


def uris(n: int) -> list[str]:
    return [PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(16)) for _ in range(n)]


def encoders() -> dict[str, Callable[[str], object] | None]:
    found: dict[str, Callable[[str], object] | None] = {"zxing-cpp (used)": qr_symbol}
    try:
        import segno

        found["segno"] = lambda u: segno.make(u, error="m", mode="byte", boost_error=False).matrix
    except ImportError:
        found["segno"] = None
    try:
        import qrcode
        from qrcode.constants import ERROR_CORRECT_M

        def with_qrcode(u: str) -> object:
            qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
            qr.add_data(u)
            qr.make(fit=True)
            return qr.get_matrix()

        found["qrcode"] = with_qrcode
    except ImportError:
        found["qrcode"] = None
    return found


def rate(encode: Callable[[str], object], texts: list[str]) -> float:
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for t in texts:
            encode(t)
        best = max(best, len(texts) / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="codes per encoder and round (best of 3)")
    args = parser.parse_args()
    texts = uris(args.count)
    rates = {name: (rate(enc, texts) if enc else None) for name, enc in encoders().items()}
    reference = rates["zxing-cpp (used)"]
    assert reference is not None
    print(f"QR encoding, error correction M, {args.count} Digital Link URIs of {len(texts[0])} characters, best of 3:")
    for name, r in rates.items():
        if r is None:
            print(f"  {name:<17} not installed")
        else:
            print(f"  {name:<17} {r:>9,.0f} codes/s   {r / reference:6.3f} x zxing-cpp")


if __name__ == "__main__":
    main()
