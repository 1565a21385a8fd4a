"""The email channel: SMTP through the standard library (``smtplib``, ``email``).

Every smtplib and socket error becomes an ``AlertError`` here, with a message that names the
server and never the password. ``starttls`` and ``tls`` verify the server's certificate.
"""

from __future__ import annotations

import functools
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from igest_sync.alerts.message import Message
from igest_sync.config import AlertsConfig
from igest_sync.errors import AlertError

CHANNEL = "email"


def build_email(config: AlertsConfig, message: Message, *, message_id: str) -> EmailMessage:
    """Plain text first, HTML as the alternative (what every mail client shows best)."""
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = config.email_from or ""
    mail["To"] = ", ".join(config.email_to)
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    # The same alert sent again (a retry after a lost answer) keeps its Message-ID, so a mail
    # system or a person can tell it is the same message.
    mail["Message-ID"] = message_id
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


def message_id_for(key: str, config: AlertsConfig) -> str:
    """A Message-ID made from the batch's key: the same alert always has the same one."""
    domain = (config.email_from or "").rpartition("@")[2].strip("<> ") or "igest-sync.invalid"
    return f"<igest-sync.{key}@{domain}>"


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # The system's CA store (where a company installs its mail server's CA), loaded once per
    # process: about 20 ms of CPU that every alert would pay again. Shared between threads.
    return ssl.create_default_context()


def _connect(config: AlertsConfig, timeout: float) -> smtplib.SMTP:
    host = config.smtp_host or ""
    context = _tls_context()
    smtp: smtplib.SMTP
    if config.smtp_security == "tls":
        smtp = smtplib.SMTP_SSL(host, config.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, config.port, timeout=timeout)
    try:
        smtp.ehlo()
        if config.smtp_security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if config.smtp_user:
            smtp.login(config.smtp_user, config.smtp_password or "")
    except BaseException:
        _close(smtp)
        raise
    return smtp


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _error(config: AlertsConfig, exc: Exception) -> AlertError:
    where = f"SMTP server {config.smtp_host}:{config.port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return AlertError(
            CHANNEL,
            f"{where} refused the login ({exc.smtp_code})",
            hint="Check [alerts] smtp_user and smtp_password (or IGEST_SYNC_ALERTS_SMTP_PASSWORD).",
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return AlertError(
            CHANNEL, f"{where} refused the recipients", hint="Check [alerts] email_to."
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return AlertError(CHANNEL, f"{where} refused the sender", hint="Check [alerts] email_from.")
    if isinstance(exc, smtplib.SMTPNotSupportedError) and "AUTH" in str(exc):
        # Raised by login(), not by starttls(): the same class for both.
        return AlertError(
            CHANNEL,
            f"{where} does not offer a login (SMTP AUTH)",
            hint="A relay that takes mail without a login: remove [alerts] smtp_user and "
            "smtp_password. Otherwise use its port that offers the login (smtp_security = "
            '"starttls": 587, "tls": 465).',
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return AlertError(
            CHANNEL,
            f"{where} does not offer STARTTLS",
            hint='Set [alerts] smtp_security = "tls" (port 465), or "none" on a local relay.',
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        raw = exc.smtp_error or b""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return AlertError(CHANNEL, f"{where} answered {exc.smtp_code} {text}".strip())
    if isinstance(exc, ssl.SSLError):
        return AlertError(
            CHANNEL,
            f"{where}: TLS failed ({exc.reason or exc})",
            hint="Check [alerts] smtp_security and smtp_port (starttls: 587, tls: 465).",
        )
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return AlertError(CHANNEL, f"{where} did not answer in time")
    if isinstance(exc, OSError):
        return AlertError(CHANNEL, f"{where} cannot be reached: {exc.strerror or exc}")
    return AlertError(CHANNEL, f"{where}: {exc}")


def send_email(config: AlertsConfig, message: Message, *, message_id: str, timeout: float) -> None:
    """Send one message to every recipient; raise ``AlertError`` if the server did not take it."""
    mail = build_email(config, message, message_id=message_id)
    try:
        smtp = _connect(config, timeout)
        try:
            refused = smtp.send_message(mail)
        finally:
            _close(smtp)
    except (smtplib.SMTPException, OSError) as exc:
        raise _error(config, exc) from None
    if refused:
        # Some recipients took it: the message is not sent again (the others would get it
        # twice); the log names the refused ones.
        import logging

        logging.getLogger("igest_sync.alerts").warning(
            "The SMTP server refused %s for an alert email", ", ".join(sorted(refused))
        )


def probe_email(config: AlertsConfig, *, timeout: float) -> str:
    """Connect, say EHLO, start TLS and log in, then quit: sends nothing."""
    try:
        smtp = _connect(config, timeout)
        _close(smtp)
    except (smtplib.SMTPException, OSError) as exc:
        raise _error(config, exc) from None
    logged_in = "logged in" if config.smtp_user else "no login configured"
    return f"{config.smtp_host}:{config.port} ({config.smtp_security}) answers; {logged_in}"
