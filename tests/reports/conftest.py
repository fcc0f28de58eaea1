"""Fixtures of the report tests: sample data built once per module, a real local SMTP server,
a recording mailer and a manual clock.

The data is ``deskpulse.sample.generate`` (3,000 tickets over 60 days from a fixed Monday)
imported with ``deskpulse.pipeline.import_files`` and built with ``deskpulse.sla.build.build``
using examples/demo/deskpulse.yaml, as of the window's end.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

DEMO_CONFIG = REPO_ROOT / "examples" / "demo" / "deskpulse.yaml"
SAMPLE_TICKETS = 3000
SAMPLE_START = dt.date(2026, 1, 5)
SAMPLE_DAYS = 60
TENANT = "acme"


def require(module: str) -> None:
    """Skip without an optional dependency locally; fail under CI=true (CI must run it)."""
    try:
        __import__(module)
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{module} is required under CI=true (scripts/install_report_deps.sh): {exc}")
        pytest.skip(f"{module} is not installed (scripts/install_report_deps.sh)")


@dataclass(frozen=True)
class SampleFiles:
    tickets: Path
    events: Path
    as_of: dt.datetime


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    from deskpulse.sample.generate import generate

    out = tmp_path_factory.mktemp("sample")
    g = generate(SAMPLE_TICKETS, 11, out, start=SAMPLE_START, days=SAMPLE_DAYS)
    return SampleFiles(g.tickets_path, g.events_path, g.window_end_at)


def load_sample(url: str, files: SampleFiles, tenant: str = TENANT) -> Any:
    """Import and build the sample into ``url``; returns the open store."""
    from deskpulse.config import load_config
    from deskpulse.pipeline import import_files
    from deskpulse.sla.build import build
    from deskpulse.store import open_store

    store = open_store(url)
    repo = store.tenant(tenant)
    summary = import_files(repo, files.tickets, files.events)
    assert summary.tickets_inserted == SAMPLE_TICKETS
    build(repo, load_config(DEMO_CONFIG), as_of=files.as_of)
    return store


@dataclass
class Built:
    """A store holding the built sample, the config and the build's as_of."""

    url: str
    store: Any
    cfg: Any
    as_of: dt.datetime

    @property
    def repo(self) -> Any:
        return self.store.tenant(TENANT)


@pytest.fixture(scope="module")
def built(sample_files: SampleFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The sample imported and built into a DuckDB file (once per test module)."""
    from deskpulse.config import load_config

    url = str(tmp_path_factory.mktemp("built") / "reports.duckdb")
    store = load_sample(url, sample_files)
    yield Built(url, store, load_config(DEMO_CONFIG), sample_files.as_of)
    store.close()


# --- SMTP ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    """One message the test SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class SmtpServer:
    port: int
    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cert: Path | None = None

    def parsed(self) -> list[EmailMessage]:
        from email import message_from_bytes
        from email.policy import default

        return [message_from_bytes(m.data, policy=default) for m in self.messages]  # type: ignore[misc]


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.server.lock:
            self.server.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content
                                                                             or envelope.content)))
        return "250 OK"


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (openssl CLI)."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
         str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    return cert, key


def start_smtp(mode: str, tmp: Path, *, user: str | None = None, password: str | None = None) -> tuple[Any, SmtpServer]:
    """A real aiosmtpd server on 127.0.0.1 and a free port: mode none, starttls or tls."""
    require("aiosmtpd")
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    server = SmtpServer(free_port())
    kwargs: dict[str, Any] = {}
    if mode != "none":
        cert, key = self_signed(tmp)
        server.cert = cert
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        if mode == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
        else:
            kwargs.update(ssl_context=ctx)
    if user is not None:
        def authenticator(srv: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
            login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else str(auth_data.login)
            pw = auth_data.password.decode() if isinstance(auth_data.password, bytes) else str(auth_data.password)
            server.logins.append((login, pw))
            return AuthResult(success=(login == user and pw == password), handled=False)

        kwargs.update(authenticator=authenticator, auth_require_tls=mode != "none")
    controller = Controller(_Handler(server), hostname="127.0.0.1", port=server.port, **kwargs)
    controller.start()
    return controller, server


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    """A plain local SMTP server (no TLS, no AUTH)."""
    controller, server = start_smtp("none", tmp_path)
    yield server
    controller.stop()


def smtp_settings(server: SmtpServer, **kwargs: Any) -> Any:
    from deskpulse.settings import load_smtp_settings

    base: dict[str, Any] = {"host": "127.0.0.1", "port": server.port, "security": "none",
                            "sender": "reports@deskpulse.test", "timeout": 5.0,
                            "backoff_seconds": 0.0, "backoff_cap_seconds": 0.0}
    base.update(kwargs)
    return load_smtp_settings(**base)


# --- doubles --------------------------------------------------------------------------------------


class RecordingMailer:
    """A Mailer double that keeps what it was asked to send (thread-safe)."""

    def __init__(self) -> None:
        from deskpulse.settings import load_smtp_settings

        self.settings = load_smtp_settings(sender="reports@deskpulse.test")
        self.sent: list[EmailMessage] = []
        self.lock = threading.Lock()

    def send(self, msg: EmailMessage) -> int:
        with self.lock:
            self.sent.append(msg)
        return 1


class ManualClock:
    """A naive-UTC clock the test moves."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **kwargs: float) -> None:
        self.at += dt.timedelta(**kwargs)
