"""The HTTP API (FastAPI): ``main.create_app(settings)``; routers in ``routes/`` only translate
HTTP to calls of the core and back. Installed as ``cradletrace.api``."""

__all__ = ["main", "routes"]
