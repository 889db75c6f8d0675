"""Outgoing mail: SMTP (aiosmtplib) when a host is set, else .eml files in an outbox folder."""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from cagnotte.config import Settings

log = logging.getLogger("cagnotte.mail")


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


def compose(
    sender: str,
    to: str,
    subject: str,
    body: str,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> EmailMessage:
    """A plain-text message; attachments are (filename, mime type, content)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    for filename, mime_type, content in attachments or []:
        maintype, subtype = mime_type.split("/", 1)
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message


class OutboxMailer:
    """Development: each message becomes a file, and a line in the log."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{uuid.uuid4().hex}.eml"
        path.write_bytes(message.as_bytes())
        log.info("mail to %s (%s) written to %s", message["To"], message["Subject"], path)


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        # Services are synchronous and usually run in worker threads without an
        # event loop; where a loop is running already, send from a thread of its own.
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._send(message))
            return
        with ThreadPoolExecutor(max_workers=1) as executor:
            executor.submit(asyncio.run, self._send(message)).result()

    async def _send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.settings.smtp_host,
            port=self.settings.smtp_port,
            username=self.settings.smtp_username,
            password=self.settings.smtp_password,
            start_tls=self.settings.smtp_starttls,
            timeout=30,
        )


def build_mailer(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(settings)
    return OutboxMailer(settings.outbox_dir)
