"""The file outbox: refused outside development, and its files wiped after a while."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import pytest

from cagnotte.bootstrap import bootstrap
from cagnotte.clock import ManualClock
from cagnotte.config import Settings
from cagnotte.mail import MailNotConfigured, OutboxMailer, SmtpMailer, build_mailer, compose


def test_production_without_an_smtp_host_refuses_the_file_outbox(tmp_path: Path):
    settings = Settings(outbox_dir=tmp_path / "outbox")
    assert settings.environment == "production"
    with pytest.raises(MailNotConfigured, match="No SMTP host is set"):
        build_mailer(settings)
    assert not (tmp_path / "outbox").exists()


def test_production_with_an_smtp_host_sends_by_smtp():
    assert isinstance(build_mailer(Settings(smtp_host="mail.example")), SmtpMailer)


def test_the_service_does_not_start_in_production_without_an_smtp_host(tmp_path: Path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'never.db'}",
        gift_card_number_key=secrets.token_urlsafe(32),
        bonus_code_key=secrets.token_urlsafe(32),
        gift_card_pin_key=secrets.token_urlsafe(32),
    )
    with pytest.raises(MailNotConfigured):
        bootstrap(settings)
    assert not (tmp_path / "never.db").exists()


def test_development_writes_files_and_the_job_wipes_them_after_the_time_kept(tmp_path: Path):
    clock = ManualClock()
    settings = Settings(
        environment="development", outbox_dir=tmp_path / "outbox", outbox_files_kept_minutes=60
    )
    mailer = build_mailer(settings, clock)
    assert isinstance(mailer, OutboxMailer) and mailer.kept == timedelta(hours=1)
    mailer.send(compose("a@example.com", "b@example.com", "Your code", "Code: 111111"))
    mailer.send(compose("a@example.com", "b@example.com", "Your code", "Code: 222222"))
    clock.advance(timedelta(minutes=30))
    mailer.send(compose("a@example.com", "b@example.com", "Your code", "Code: 333333"))
    (tmp_path / "outbox" / "notes.txt").write_text("not the mailer's")
    clock.advance(timedelta(minutes=30))
    assert mailer.wipe_old_files() == 0
    clock.advance(timedelta(minutes=1))
    assert mailer.wipe_old_files() == 2
    left = sorted(path.name for path in (tmp_path / "outbox").iterdir())
    assert len(left) == 2 and "notes.txt" in left
    assert b"333333" in next((tmp_path / "outbox").glob("*.eml")).read_bytes()
    clock.advance(timedelta(minutes=30))
    assert mailer.wipe_old_files() == 1
    assert list((tmp_path / "outbox").glob("*.eml")) == []
