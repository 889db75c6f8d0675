"""The keys of the number and code hashes: strong, settings in production, rotated."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from cagnotte.bootstrap import bootstrap
from cagnotte.cli import app as cli
from cagnotte.config import Settings, SettingsError
from cagnotte.security.hash_keys import HashKeys, KeyUsage, decode_key, key_id, parse_keys

STRONG = secrets.token_urlsafe(32)


# Drawn in the test, so that the parallel test processes collect the same tests.
STRONG_KEYS = {
    "token_urlsafe": lambda: secrets.token_urlsafe(32),
    "token_hex": lambda: secrets.token_hex(32),
    "base64": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    "base64url_48_bytes": lambda: base64.urlsafe_b64encode(secrets.token_bytes(48)).decode(),
}
WEAK_KEYS = {
    "a_word": lambda: "secret",
    "a_phrase": lambda: "correct horse battery staple",
    "16_bytes": lambda: secrets.token_urlsafe(16),
    "31_bytes_hex": lambda: secrets.token_hex(31),
    "one_byte_repeated": lambda: "a" * 64,
    "a_pattern_repeated": lambda: "0123456789abcdef" * 4,
    "a_word_repeated": lambda: base64.b64encode(b"password" * 6).decode(),
}


@pytest.mark.parametrize("make", STRONG_KEYS.values(), ids=STRONG_KEYS.keys())
def test_a_key_of_32_random_bytes_or_more_in_hex_or_base64_is_accepted(make):
    assert len(decode_key(make())) >= 32


@pytest.mark.parametrize("make", WEAK_KEYS.values(), ids=WEAK_KEYS.keys())
def test_a_short_repetitive_or_not_encoded_key_is_refused(make):
    with pytest.raises(ValueError, match="token_urlsafe"):
        decode_key(make())


def test_a_setting_lists_keys_newest_first_and_refuses_one_twice():
    new, old = secrets.token_hex(32), secrets.token_urlsafe(32)

    assert parse_keys(f"{new}, {old}") == (decode_key(new), decode_key(old))
    assert parse_keys(None) == parse_keys(" ") == ()
    with pytest.raises(ValueError, match="twice"):
        parse_keys(f"{new},{new}")


@pytest.mark.parametrize("name", ["gift_card_number_key", "bonus_code_key", "gift_card_pin_key"])
def test_a_weak_key_in_the_settings_is_refused_by_its_variable_without_showing_it(name):
    weak = "my-own-little-secret"

    with pytest.raises(ValidationError) as refused:
        Settings(environment="development", **{name: f"{STRONG},{weak}"})

    assert f"CAGNOTTE_{name.upper()}" in str(refused.value)
    assert weak not in str(refused.value) and STRONG not in str(refused.value)


def test_production_without_the_keys_refuses_to_start_and_names_the_variables(tmp_path: Path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'never-opened.db'}")
    assert not settings.is_development

    with pytest.raises(SettingsError) as refused:
        bootstrap(settings)

    message = str(refused.value)
    assert "CAGNOTTE_GIFT_CARD_NUMBER_KEY" in message and "CAGNOTTE_BONUS_CODE_KEY" in message
    assert "token_urlsafe(32)" in message
    assert not (tmp_path / "never-opened.db").exists()


def test_production_with_only_one_key_names_the_missing_one(tmp_path: Path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'never-opened.db'}", gift_card_number_key=STRONG
    )

    with pytest.raises(SettingsError) as refused:
        bootstrap(settings)

    assert "CAGNOTTE_BONUS_CODE_KEY" in str(refused.value)
    assert "CAGNOTTE_GIFT_CARD_NUMBER_KEY" not in str(refused.value)


def test_production_with_both_keys_and_development_without_them_start(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'never-opened.db'}"
    production = Settings(
        database_url=url,
        gift_card_number_key=STRONG,
        bonus_code_key=STRONG,
        gift_card_pin_key=STRONG,
        smtp_host="mail.example",  # production sends mail by SMTP only (mail.build_mailer)
    )
    development = Settings(environment="development", database_url=url)

    for settings in (production, development):
        bootstrap(settings).close()


def test_the_command_refuses_production_without_the_keys_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("CAGNOTTE_DATABASE_URL", f"sqlite:///{tmp_path / 'never-opened.db'}")
    for name in ("ENVIRONMENT", "GIFT_CARD_NUMBER_KEY", "BONUS_CODE_KEY", "GIFT_CARD_PIN_KEY"):
        monkeypatch.delenv(f"CAGNOTTE_{name}", raising=False)

    for command in (["jobs", "run"], ["keys", "status"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2
        assert "CAGNOTTE_GIFT_CARD_NUMBER_KEY and CAGNOTTE_BONUS_CODE_KEY" in result.output
    assert not (tmp_path / "never-opened.db").exists()


def test_serve_without_development_or_keys_stops_before_migrating(tmp_path: Path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CAGNOTTE_")}
    finished = subprocess.run(
        [sys.executable, "-m", "cagnotte.cli", "serve", "--port", "1"],
        cwd=tmp_path,
        env={**environment, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert finished.returncode == 2
    assert "CAGNOTTE_GIFT_CARD_NUMBER_KEY" in finished.stderr
    assert not (tmp_path / "cagnotte.db").exists()


def test_key_usage_counts_what_still_needs_an_older_key():
    new, old, dropped = (secrets.token_bytes(32) for _ in range(3))
    keys = HashKeys((new, old))
    usage = KeyUsage(
        key_ids=keys.ids,
        rows_by_key={key_id(new): 5, key_id(old): 2, None: 1, key_id(dropped): 3},
    )

    assert keys.newest_id == key_id(new) != key_id(old)
    assert (usage.under_newest_key, usage.under_older_keys, usage.under_unknown_keys) == (5, 6, 3)
