"""Email over SMTP: an HTML message with an inline summary and the report files attached.

:func:`build_message` makes a ``multipart/mixed`` message: a ``multipart/alternative`` body
(plain text and HTML — the headline figures and the first rows of each table, no scripts or
images) followed by the attachments. :class:`Mailer` sends it with :mod:`smtplib` over
STARTTLS, implicit TLS or (for a local relay) plain SMTP, logging in when a username is set.

Transient failures — connection refused or dropped, timeouts, 4xx replies — are retried with
exponential backoff and jitter (:class:`deskpulse.ingest.sync.retry.Backoff`); permanent ones
(5xx, refused recipients, failed login) are not. :class:`DeliveryFailed` carries the attempt
count and the last error for the run history. The password comes from ``SmtpSettings`` (the
environment) and never reaches a log line or an error message.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Final

from deskpulse.ingest.sync.retry import Backoff
from deskpulse.reports.document import ReportDocument, Table
from deskpulse.reports.render import CSS, Attachment, render_html
from deskpulse.settings import SmtpSecurity, SmtpSettings

log = logging.getLogger(__name__)

#: Rows of each table shown in the email body (the attachments hold them all).
SUMMARY_ROWS: Final = 10


class DeliveryFailed(Exception):
    """The message was not delivered; ``attempts`` made, ``permanent`` when not retryable."""

    def __init__(self, message: str, *, attempts: int, permanent: bool) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.permanent = permanent


def summary_tables(doc: ReportDocument, rows: int = SUMMARY_ROWS) -> list[Table]:
    """The tables as the email body shows them: the first ``rows`` rows of each (section)."""
    out = []
    for t in doc.tables:
        if t.split_by is None:
            out.append(Table(t.name, t.title, t.rows, t.columns, display_limit=rows, note=t.note,
                             empty_message=t.empty_message))
            continue
        first = t.sections()[0][1] if t.rows else []  # the first section (e.g. "overall")
        key = first[0].get(t.split_by) if first else None
        label = t.split_labels.get(str(key), str(key)) if key is not None else ""
        out.append(Table(t.name, f"{t.title} — {label}" if label else t.title, first, t.columns,
                         display_limit=rows, empty_message=t.empty_message))
    return out


def summary_text(doc: ReportDocument) -> str:
    lines = [f"{doc.title} · tenant {doc.tenant}", doc.window, ""]
    lines += [f"- {f.label}: {f.value}" + (f" ({f.note})" if f.note else "") for f in doc.figures]
    if doc.message:
        lines += ["", doc.message]
    lines += ["", "The full report is attached."]
    return "\n".join(lines) + "\n"


def build_message(
    doc: ReportDocument,
    files: Sequence[Attachment],
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """The report email: summary in text and HTML, the report files attached."""
    msg = EmailMessage()
    msg["Subject"] = subject or f"[deskpulse] {doc.title} · {doc.tenant} · {doc.window}"
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or "deskpulse")
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(summary_text(doc))
    html = render_html(doc, include_charts=False, tables=summary_tables(doc))
    html = html.replace("</body>", '<p class="note">The full report is attached.</p></body>')
    msg.add_alternative(html, subtype="html")
    for f in files:
        main, sub = f.mimetype.split("/", 1)
        msg.add_attachment(f.content, maintype=main, subtype=sub, filename=f.filename)
    return msg


def plain_message(*, sender: str, recipients: Sequence[str], subject: str, text: str,
                  html: str | None = None) -> EmailMessage:
    """A short notification (alerts): text, optionally with an HTML alternative."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or "deskpulse")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(f"<html><head><style>{CSS}</style></head><body>{html}</body></html>",
                            subtype="html")
    return msg


def _transient(exc: BaseException) -> bool:
    """Worth another attempt: network trouble or a 4xx (temporary) reply."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPAuthenticationError | smtplib.SMTPNotSupportedError):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    return isinstance(exc, OSError | TimeoutError)


def _reason(exc: BaseException) -> str:
    """A one-line reason for logs and the run history (never the credentials)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + ", ".join(
            f"{addr} ({code})" for addr, (code, _) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"SMTP login refused ({exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"SMTP {exc.smtp_code}: {text[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


@dataclass
class Mailer:
    """Sends messages through the configured SMTP server, with retries."""

    settings: SmtpSettings
    sleep: Callable[[float], None] = time.sleep
    backoff: Backoff | None = None

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security is SmtpSecurity.tls:
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._context())
        client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            if s.security is SmtpSecurity.starttls:
                client.ehlo()
                client.starttls(context=self._context())
                client.ehlo()
        except BaseException:
            client.close()
            raise
        return client

    def send_once(self, msg: EmailMessage) -> None:
        """One delivery attempt (raises the smtplib / OS error)."""
        s = self.settings
        with self._connect() as client:
            if s.username:
                client.login(s.username, s.password.get_secret_value())
            client.send_message(msg)

    def send(self, msg: EmailMessage) -> int:
        """Deliver ``msg``, retrying transient failures; returns the attempts it took."""
        s = self.settings
        backoff = self.backoff or Backoff(base=s.backoff_seconds, cap=s.backoff_cap_seconds)
        for attempt in range(1, s.attempts + 1):
            try:
                self.send_once(msg)
                log.info("mail %s to %d recipient(s) via %s: sent (attempt %d)",
                         msg.get("Message-ID"), len(msg.get_all("To") or []), s.describe(), attempt)
                return attempt
            except Exception as exc:
                reason = _reason(exc)
                permanent = not _transient(exc)
                log.warning("mail via %s: attempt %d/%d failed: %s", s.describe(), attempt,
                            s.attempts, reason)
                if permanent or attempt == s.attempts:
                    raise DeliveryFailed(f"{reason} (via {s.describe()}, {attempt} attempt(s))",
                                         attempts=attempt, permanent=permanent) from None
                self.sleep(backoff.delay(attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover
