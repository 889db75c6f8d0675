"""Outgoing mail: SMTP (aiosmtplib) when a host is set; on a developer's machine, files.

Nothing here is called by a request: the use cases write their mail to the
outbox table (`cagnotte.outbox`) and the jobs send it through a `Mailer`.

The file outbox (`OutboxMailer`, one .eml file per message in a folder) is for
development only: it writes card numbers, PINs, sign-in codes and code files in
clear on the disk. `build_mailer` refuses it unless the settings say
development — a production service without an SMTP host does not start — and
the jobs wipe its files after `outbox_files_kept_minutes`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from cagnotte.clock import Clock, SystemClock
from cagnotte.config import Settings, SettingsError

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


class MailNotConfigured(SettingsError):
    """Settings that give mail nowhere safe to go (production without an SMTP host)."""


# The files OutboxMailer writes: the moment (UTC, from its clock) and a random part.
_OUTBOX_FILE = re.compile(r"^(\d{8}T\d{6}Z)-[0-9a-f]{32}\.eml$")
_OUTBOX_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


class OutboxMailer:
    """Development only: each message becomes a file, and a line in the log.

    The file's name carries the moment it was written, by the mailer's clock,
    so that `wipe_old_files` removes what was kept long enough.
    """

    def __init__(
        self, folder: Path, *, kept: timedelta = timedelta(hours=1), clock: Clock | None = None
    ) -> None:
        self.folder = folder
        self.kept = kept
        self.clock = clock or SystemClock()

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        moment = self.clock.now().astimezone(UTC).strftime(_OUTBOX_TIME_FORMAT)
        path = self.folder / f"{moment}-{uuid.uuid4().hex}.eml"
        path.write_bytes(message.as_bytes())
        # The file, not the recipient nor the subject: no personal data in the log.
        log.info("a mail was written to %s", path)

    def wipe_old_files(self) -> int:
        """Delete the files this mailer wrote more than `kept` ago; how many."""
        if not self.folder.is_dir():
            return 0
        oldest_kept = self.clock.now() - self.kept
        wiped = 0
        for path in self.folder.glob("*.eml"):
            match = _OUTBOX_FILE.match(path.name)
            if match is None:
                continue
            written = datetime.strptime(match.group(1), _OUTBOX_TIME_FORMAT).replace(tzinfo=UTC)
            if written < oldest_kept:
                path.unlink(missing_ok=True)
                wiped += 1
        return wiped


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


def build_mailer(settings: Settings, clock: Clock | None = None) -> Mailer:
    """SMTP when a host is set; else the file outbox, in development only."""
    if settings.smtp_host:
        return SmtpMailer(settings)
    if not settings.is_development:
        raise MailNotConfigured(
            "No SMTP host is set (CAGNOTTE_SMTP_HOST). In production mail is sent by SMTP "
            "only: the file outbox would keep card numbers, PINs and sign-in codes in clear "
            "on the disk. Set CAGNOTTE_SMTP_HOST, or serve with --development on a "
            "developer's machine."
        )
    return OutboxMailer(
        settings.outbox_dir,
        kept=timedelta(minutes=settings.outbox_files_kept_minutes),
        clock=clock,
    )
