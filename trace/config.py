"""Settings, read from the command line or the environment (CRADLETRACE_*, DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Where the data lives and which chain to anchor to. Defaults need no setup at all."""

    # hide_input_in_errors: a refused value (a private key, a database URL with its password) must
    # not be echoed into a start-up error or a log; the error still names the setting and the rule.
    model_config = SettingsConfigDict(env_prefix="CRADLETRACE_", extra="ignore", hide_input_in_errors=True)

    data_dir: Path = Field(default=Path(".cradletrace"))
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CRADLETRACE_DATABASE_URL", "DATABASE_URL", "database_url")
    )
    rpc_url: str | None = None
    # Private key (hex) that signs anchor transactions on an RPC node; without it the node's
    # first unlocked account is used (fine for Hardhat and anvil, not for a real network).
    anchor_key: str | None = None
    limits_file: Path | None = None
    rpc_timeout: float = 30.0
    # JSON-RPC requests that fail to connect or time out are tried again this many times in
    # all, waiting rpc_backoff * 2**n seconds between tries (reads and raw-transaction sends).
    rpc_retries: int = Field(default=5, ge=1)
    rpc_backoff: float = Field(default=0.125, ge=0.0)
    # Blocks that must follow the one holding an anchor before its batch counts as final
    # (0: final once mined; the embedded chain never reorganises). See docs/operations.md.
    anchor_confirmations: int = Field(default=0, ge=0)
    # Confirmed roots in this many blocks below the head are checked again on every run, so a
    # reorganisation that drops one is noticed and the batch anchored again (RPC chains only).
    anchor_reorg_window: int = Field(default=64, ge=0)
    # Seconds to wait for an anchor transaction to be mined; one still pending after that is
    # replaced (same nonce, higher fees) by the next run. Default: max(rpc_timeout, 10).
    anchor_receipt_timeout: float | None = Field(default=None, gt=0)
    # Store connections kept open per process (a burst may open half as many again): a connection
    # opened per request costs PostgreSQL a new backend process.
    db_pool_size: int = Field(default=8, ge=1, le=200)
    # PostgreSQL connections each API process keeps for scans (scan.postgres.PgScanner), apart from
    # db_pool_size. Scans run on the event loop, so a few in flight keep a process busy: on 2
    # shared cores 3 per process did 2 860 scans/s with p99 31 ms, 8 did 2 620/s with p99 186 ms
    # (16 busy backends fighting the workers for the cores). More when PostgreSQL is on another host.
    scan_db_connections: int = Field(default=3, ge=1, le=200)
    # Seconds a request waits for a free store connection (or for a down store to come back)
    # before it is refused with 503.
    db_wait_timeout: float = Field(default=10.0, gt=0)
    # Requests one API process works on at once (its thread pool). Few: the work is mostly
    # Python, which runs one thread at a time, and every extra thread only adds switching (a
    # scan load on 2 cores did 720/s with 16 threads, 1 000/s with 4). At most db_pool_size.
    api_threads: int = Field(default=4, ge=1, le=200)
    # HTTP API: request body limits in bytes, checked before parsing; the bulk one is for
    # POST /api/v1/events (10 000 signed events fit), the other for every other request.
    api_max_body: int = Field(default=1 << 20, ge=1024)
    api_max_bulk_body: int = Field(default=20 << 20, ge=1024)
    # EPCIS REST binding (POST /epcis/capture, docs/epcis.md "REST binding"): the most events and bytes
    # one capture may hold (advertised as GS1-EPCIS-Capture-Limit / -File-Size-Limit; over them: 413);
    # the seconds between the capture worker's looks for pending jobs (0: no worker in this process;
    # a posted job wakes it at once); how far (seconds) a request signature's ``created`` may lie
    # from the server's clock; and whether a capture without a request signature is taken (off:
    # refused with 401; on: the caller's API key names the supplier and every event is marked unsigned).
    epcis_capture_limit: int = Field(default=10_000, ge=1, le=10_000)
    epcis_capture_max_bytes: int = Field(default=20 << 20, ge=1024)
    epcis_capture_interval: float = Field(default=2.0, ge=0.0)
    epcis_signature_window: int = Field(default=300, ge=1)
    epcis_unsigned_capture: bool = False
    # Seconds between runs of the API process's own anchoring thread; 0 runs none
    # ('cradletrace serve' sets it, so the embedded chain needs no second process).
    anchor_interval: float = Field(default=0.0, ge=0.0)
    # Public scan endpoints: requests per minute per client address (0 turns the limit off,
    # e.g. for a load test from one address).
    scan_rate_per_minute: int = Field(default=120, ge=0)
    # The embedded chain's read-only POST /rpc (phones checking a scan page's anchors): requests
    # per minute per client address, a batch counting one (0: no limit).
    rpc_rate_per_minute: int = Field(default=120, ge=0)
    # Sealing of consumer scan locations: key as 64 hex digits, else keys/location.key (0600).
    location_key: str | None = None
    sealing_algorithm: str = "aes-256-gcm"
    # Key of the buyer pseudonyms sale events carry (sales.py): 64 hex digits, else keys/member.key (0600).
    member_key: str | None = None
    # Host (or http(s)://host[:port] origin) that item codes on labels point to: the scan
    # page's GS1 Digital Link resolver. Printed codes keep it forever; choose it before printing.
    resolver_host: str = "id.cradletrace.example"
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: comma-separated addresses or
    # networks ("10.0.0.5,192.168.1.0/24"). Default none: the client address is the TCP peer's,
    # whatever headers it sends. Every per-address limit counts that address.
    trusted_proxies: str = ""
    # Failed authentication: an address may present this many wrong API keys at once, then one
    # more per 60/N seconds; meanwhile its every keyed request (the right key too) is 429.
    auth_failures_per_minute: int = Field(default=10, ge=1)
    # The supplier portal (/supplier): a session ends after this many minutes without a request
    # (CRADLETRACE_PORTAL_IDLE_MINUTES), and at the latest this many hours after signing in.
    portal_idle_minutes: float = Field(default=30.0, gt=0)
    portal_lifetime_hours: float = Field(default=12.0, gt=0)
    # Largest lab certificate (PDF) the portal's document store takes, in bytes (docs/supplier-portal.md).
    portal_max_document: int = Field(default=10 << 20, ge=1024)
    # The portal's bulk upload: the largest XLSX it reads, in bytes, and how many signed events the
    # page sends per submission (each stored whole or not at all; at most recording.MAX_EVENTS).
    portal_max_bulk_file: int = Field(default=20 << 20, ge=1024)
    portal_bulk_per_submission: int = Field(default=500, ge=1, le=10_000)
    # Public POST /verify-bundle (each one reads the chain): requests per minute per address (0: no limit).
    verify_rate_per_minute: int = Field(default=30, ge=0)
    # Log client addresses and scanned serials in the access log (default: never; paths are logged
    # with the serial, the scan id and the typed code replaced by a marker).
    log_clients: bool = False
    # Hosts (comma-separated) besides its own that the resolver redirects to, e.g. the labs whose
    # report documents ?linkType=gs1:certificationInfo may lead to; any other host gets the pack's
    # page instead. Only https links are ever followed (core/weblinks.py).
    resolver_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("resolver_allowed_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return (
            tuple(str(h).strip().lower() for h in value) if isinstance(value, (list, tuple, set, frozenset)) else value
        )

    # JSON-RPC endpoints of the anchoring chain that phones may call themselves to check a scan
    # page's anchors (comma-separated https URLs; http only for 127.0.0.1 or localhost). They are
    # put in the scan page and its CSP connect-src. None: the embedded chain's own read-only /rpc.
    public_rpc_urls: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("public_rpc_urls", mode="before")
    @classmethod
    def _rpc_urls(cls, value: object) -> object:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            return value
        return tuple(public_rpc_url(str(u).strip()) for u in items if str(u).strip())

    # Seconds one long request (an EPCIS export) may work before it stops with 503; it checks
    # between events, and stops as well when its client goes away. See docs/security.md.
    api_request_timeout: float = Field(default=60.0, gt=0)
    # Seconds a stopping server waits for requests still running before it cancels them
    # (uvicorn's timeout_graceful_shutdown); a cancelled export stops at its next event.
    api_shutdown_grace: float = Field(default=10.0, ge=0)

    # Recall notices to consignee sites (trace/recall/delivery.py, docs/recall.md). E-mail is off
    # until smtp_host is set; smtp_security is "starttls", "tls" (SMTPS) or "none" (a relay on
    # this host only). smtp_user/smtp_password log in when both are set.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: str = Field(default="starttls", pattern=r"^(starttls|tls|none)$")
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "recalls@cradletrace.example"
    smtp_timeout: float = Field(default=20.0, gt=0)
    # Seconds between the API process's delivery runs (0: none; 'cradletrace recall notify --watch'
    # delivers instead). Starting or widening a recall wakes it at once.
    notify_interval: float = Field(default=2.0, ge=0.0)
    # A failed try is retried after notify_backoff * 2**(tries-1) seconds, at most notify_max_backoff
    # apart, until notify_give_up_hours after the notice was written: then it is failed for good.
    notify_backoff: float = Field(default=30.0, gt=0)
    notify_max_backoff: float = Field(default=1800.0, gt=0)
    notify_give_up_hours: float = Field(default=72.0, gt=0)
    # Notices sent at once by one delivery run (threads), and the seconds a webhook may take.
    notify_parallel: int = Field(default=16, ge=1, le=200)
    webhook_timeout: float = Field(default=10.0, gt=0)
    # EPCIS subscriptions (epcis/subscriptions.py): seconds between the API process's delivery runs
    # when nothing wakes it (events recorded by another process; 0: none, 'cradletrace epcis deliver
    # --watch' delivers), and the first retry's wait, doubling up to epcis_max_backoff; a delivery is
    # given up notify_give_up_hours after it was written.
    epcis_deliver_interval: float = Field(default=1.0, ge=0.0)
    epcis_backoff: float = Field(default=5.0, gt=0)
    epcis_max_backoff: float = Field(default=900.0, gt=0)
    # Where acknowledgement links point (scheme://host[:port]); default: the resolver host's origin.
    ack_base_url: str | None = None

    @property
    def ack_origin(self) -> str:
        base = self.ack_base_url or self.resolver_host
        return base.rstrip("/") if "://" in base else f"https://{base}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def chain_file(self) -> Path:
        return self.data_dir / "chain.sqlite"

    @property
    def store_url(self) -> str:
        from cradletrace.store.db import sqlite_url

        return self.database_url or sqlite_url(self.data_dir)

    @property
    def embedded(self) -> bool:
        return self.rpc_url is None


LOCAL_HOSTS = ("127.0.0.1", "localhost")


def public_rpc_url(url: str) -> str:
    """One CRADLETRACE_PUBLIC_RPC_URLS entry, checked: phones send their reads there, so only https
    (http for a node on this machine in development), a host, and nothing a browser would drop or
    a CSP source could not carry. A URL with credentials is not repeated in the message."""
    parts = urlsplit(url)
    where = "CRADLETRACE_PUBLIC_RPC_URLS: " + ("a URL" if "@" in parts.netloc else repr(url))
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise ValueError(f"{where}: expected an https URL, got one that does not parse ({exc})") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{where}: expected an https URL such as https://rpc.example-network.org")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise ValueError(f"{where}: expected https; http is allowed only for 127.0.0.1 or localhost")
    if parts.username or parts.password or parts.fragment or any(c in url for c in " ;,'\"\\"):
        raise ValueError(
            f"{where}: expected a plain URL without credentials, fragment, spaces, quotes, commas or semicolons"
        )
    return url


def url_origin(url: str) -> str:
    """scheme://host[:port] of a checked URL, as a CSP source names it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"
