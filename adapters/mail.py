"""Mailers: SMTP for production, console for development, in-memory for tests."""

from __future__ import annotations

import logging
import queue
import smtplib
import sys
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TextIO
from urllib.parse import unquote, urlsplit

log = logging.getLogger("aqualab.mail")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class InMemoryMailer:
    def __init__(self) -> None:
        self.sent: list[Mail] = []
        self._lock = threading.Lock()

    def send(self, *, to: str, subject: str, body: str) -> None:
        with self._lock:
            self.sent.append(Mail(to, subject, body))


class DisabledMailer:
    """Production without SMTP: say that mail was not sent, never what it contained
    (a reset link is a credential, and stdout usually ends up in the log store)."""

    def send(self, *, to: str, subject: str, body: str) -> None:
        log.warning("mail not sent: SMTP_URL is not configured", extra={"subject": subject})


class ConsoleMailer:
    """Development outbox: prints each message to the terminal (not to the log stream)."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def send(self, *, to: str, subject: str, body: str) -> None:
        with self._lock:
            self._stream.write(
                f"\n----- mail to {to}: {subject} -----\n{body}----- end of mail -----\n"
            )
            self._stream.flush()


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    sender: str

    @classmethod
    def from_url(cls, url: str, sender: str) -> SmtpSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:pass@host:port or smtps://…")
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=parts.scheme == "smtps",
            sender=sender,
        )


class SmtpMailer:
    """Sends through a background worker, so a slow mail server never delays a response
    (and a response's timing never tells whether a mail was sent)."""

    def __init__(self, settings: SmtpSettings, timeout: float = 10.0):
        self._settings = settings
        self._timeout = timeout
        self._queue: queue.Queue[EmailMessage] = queue.Queue(maxsize=1000)
        self._worker = threading.Thread(target=self._run, name="smtp-mailer", daemon=True)
        self._worker.start()

    def send(self, *, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self._settings.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            log.error("mail queue full; dropping a message", extra={"subject": subject})

    def deliver(self, message: EmailMessage) -> None:
        s = self._settings
        client_cls = smtplib.SMTP_SSL if s.use_tls else smtplib.SMTP
        with client_cls(s.host, s.port, timeout=self._timeout) as client:
            if not s.use_tls:
                client.ehlo()
                if client.has_extn("starttls"):
                    client.starttls()
            if s.username and s.password:
                client.login(s.username, s.password)
            client.send_message(message)

    def _run(self) -> None:
        while True:
            message = self._queue.get()
            try:
                self.deliver(message)
            except (OSError, smtplib.SMTPException) as exc:
                log.error("mail delivery failed: %s", type(exc).__name__)
            finally:
                self._queue.task_done()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until queued messages are handed over (tests, shutdown)."""
        done = threading.Event()

        def wait_for_queue() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait_for_queue, daemon=True).start()
        done.wait(timeout)
