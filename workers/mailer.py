"""The mailer port: hand a message to an SMTP server, a folder of files, or the console.

`UPARE_MAIL_URL` and `UPARE_SMS_URL` pick the transport of each channel:
- `smtp://[user:password@]host:port[?starttls=1]`: an SMTP server, one connection a message.
- `file:///DIR`: one file a message (`.eml` for mail, `.sms` for SMS), named after its outbox
  key and written atomically; a second send of the same key finds the file and writes nothing.
- `console://`: the message on standard output.

Every message carries its outbox key as its idempotency handle: the file name for `file://`,
and for mail a `Message-ID` derived from the key, so two copies of one mail (after a crash
between the server's acceptance and the outbox's record) are recognisably the same mail.

A transport raises `Refused` when the server refused the message for good (SMTP 5xx) and
`Unavailable` when it could not take it now (no connection, a timeout, SMTP 4xx).
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
import sys
import threading
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit

from projections.outbox import MAIL, SMS, Message

SMTP_TIMEOUT = 10.0  # seconds for each exchange with the server


class Refused(Exception):
    """The server refused the message for good (SMTP 5xx)."""


class Unavailable(Exception):
    """The message could not be handed over now (no connection, a timeout, SMTP 4xx)."""


class Transport(Protocol):
    def send(self, key: str, email: EmailMessage) -> None: ...


def message_id(key: str) -> str:
    """Return the Message-ID of the mail with this outbox key (the same for every copy)."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@upare.outbox>"


def build(key: str, message: Message, sender: str) -> EmailMessage:
    """Return the message as an email, its outbox key as its Message-ID."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    if message.subject:
        email["Subject"] = message.subject
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = message_id(key)
    email.set_content(message.body)
    return email


class Smtp:
    """Send through an SMTP server with smtplib."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 25
        self.user = unquote(parts.username or "")
        self.password = unquote(parts.password or "")
        self.starttls = parse_qs(parts.query).get("starttls", ["0"])[0] in ("1", "true", "yes")

    def send(self, key: str, email: EmailMessage) -> None:
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
        except (OSError, smtplib.SMTPException) as ex:
            raise Unavailable(f"{self.host}:{self.port}: {ex!r}") from ex
        try:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as ex:
            code, text = next(iter(ex.recipients.values()))
            raise _failure(code, text) from ex
        except smtplib.SMTPResponseException as ex:  # sender or data refused, auth failed, ...
            raise _failure(ex.smtp_code, ex.smtp_error) from ex
        except (OSError, smtplib.SMTPException) as ex:
            raise Unavailable(repr(ex)) from ex
        finally:
            _quit(smtp)


def _failure(code: int, text: bytes | str) -> Exception:
    detail = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
    return Refused(detail) if code >= 500 else Unavailable(detail)


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye; a server that hangs up first changes nothing about what it accepted."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


class Folder:
    """Write each message to a file named after its key, once."""

    def __init__(self, url: str, suffix: str) -> None:
        self.path = Path(unquote(urlsplit(url).path))
        self.suffix = suffix

    def send(self, key: str, email: EmailMessage) -> None:
        final = self.path / f"{quote(key, safe=':')}{self.suffix}"
        scratch = final.with_name(f".{final.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if final.exists():
                return  # written before: the file name is the key
            with open(scratch, "wb") as file:
                file.write(bytes(email))
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(scratch, final)  # atomic, and never replaces a file of the same key
            except FileExistsError:
                pass
            finally:
                scratch.unlink()
        except OSError as ex:
            raise Unavailable(repr(ex)) from ex


class Console:
    """Print each message on standard output."""

    def send(self, key: str, email: EmailMessage) -> None:
        sys.stdout.write(f"{email.as_string()}\n{'-' * 72}\n")
        sys.stdout.flush()


def transport(url: str, suffix: str) -> Transport:
    """Return the transport a `smtp://`, `file://` or `console://` URL names."""
    scheme = urlsplit(url).scheme
    if scheme == "smtp":
        return Smtp(url)
    if scheme == "file":
        return Folder(url, suffix)
    if scheme == "console":
        return Console()
    raise ValueError(f"no transport for {url!r}: use smtp://, file:// or console://")


class Mailer:
    """Send outbox messages: mail through `UPARE_MAIL_URL`, SMS through `UPARE_SMS_URL`."""

    def __init__(self, mail_url: str, sms_url: str, sender: str) -> None:
        self.transports = {MAIL: transport(mail_url, ".eml"), SMS: transport(sms_url, ".sms")}
        self.sender = sender

    def send(self, key: str, message: Message) -> None:
        """Hand one message over; raise `Refused` or `Unavailable` when that failed."""
        self.transports[message.channel].send(key, build(key, message, self.sender))
