"""Mail leaves by SMTP (aiosmtplib) when a host is set, else lands in the outbox folder."""

from __future__ import annotations

import socket
from email import message_from_bytes
from pathlib import Path

from aiosmtpd.controller import Controller

from cagnotte.config import Settings
from cagnotte.mail import OutboxMailer, SmtpMailer, build_mailer, compose


class Sink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope.content)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_message_with_an_attachment_reaches_an_smtp_server():
    sink = Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = build_mailer(Settings(smtp_host="127.0.0.1", smtp_port=port))
        assert isinstance(mailer, SmtpMailer)
        mailer.send(
            compose(
                "shop@example.com",
                "jana@example.com",
                "Your code",
                "Code: 123456",
                attachments=[("codes.csv", "text/csv", b"code\nABC\n")],
            )
        )
    finally:
        controller.stop()
    assert len(sink.messages) == 1
    received = message_from_bytes(sink.messages[0])
    assert received["To"] == "jana@example.com" and received["Subject"] == "Your code"
    attachments = [part.get_filename() for part in received.walk() if part.get_filename()]
    assert attachments == ["codes.csv"]


def test_without_an_smtp_host_mail_is_written_to_the_outbox(tmp_path: Path):
    mailer = build_mailer(Settings(environment="development", outbox_dir=tmp_path / "outbox"))
    assert isinstance(mailer, OutboxMailer)
    mailer.send(compose("a@example.com", "b@example.com", "Hello", "Body text"))
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1 and b"Body text" in files[0].read_bytes()


def test_smtp_mail_is_sent_even_from_a_thread_with_a_running_event_loop():
    import asyncio
    import threading

    sink = Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    mailer = build_mailer(Settings(smtp_host="127.0.0.1", smtp_port=port))

    async def inside_a_loop() -> None:
        mailer.send(compose("shop@example.com", "jana@example.com", "Hello", "Body"))

    # A thread of its own, since the test runner's thread may have a loop running already
    # (Playwright's, after the browser tests).
    worker = threading.Thread(target=asyncio.run, args=(inside_a_loop(),))
    try:
        worker.start()
        worker.join(timeout=30)
    finally:
        controller.stop()
    assert len(sink.messages) == 1
