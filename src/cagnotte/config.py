"""Settings, read from the environment (CAGNOTTE_*) only when the app is built."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cagnotte.security.hash_keys import parse_keys

# Stands in for CAGNOTTE_PLATFORM_BANK_ACCOUNT in development: all zeros, no bank's.
DEVELOPMENT_BANK_ACCOUNT = "0000000000/0000"


class SettingsError(ValueError):
    """Settings the service refuses to start with; the message names the variables."""


class Settings(BaseSettings):
    # Inputs stay out of error messages: a refused key must not land in a log.
    model_config = SettingsConfigDict(
        env_prefix="CAGNOTTE_", extra="ignore", hide_input_in_errors=True
    )

    # "production" unless said otherwise: a production service refuses what is
    # only fit for a developer's machine (mail as files, keys kept beside their
    # hashes). `cagnotte serve --development` (or CAGNOTTE_ENVIRONMENT=development)
    # allows them.
    environment: Literal["development", "production"] = "production"
    database_url: str = "sqlite:///cagnotte.db"
    # Where mail goes when no SMTP host is set, in development only: one .eml file
    # per message, deleted by the jobs after this many minutes.
    outbox_dir: Path = Path("outbox")
    outbox_files_kept_minutes: int = 60
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Cagnotte <no-reply@cagnotte.localhost>"
    public_url: str = "http://127.0.0.1:8000"
    # Seconds between two runs of the scheduled jobs inside `cagnotte serve`.
    jobs_interval_seconds: int = 30
    # Seconds between two deliveries of the mail outbox inside `cagnotte serve`
    # (a sign-in code should not wait for the other jobs).
    mail_interval_seconds: float = 2.0
    database_pool_size: int = 10
    # How long a request waits for a connection of the pool (PostgreSQL) or for the
    # write lock (SQLite) before it is answered 503 service_unavailable, to retry.
    database_pool_timeout_seconds: float = 10.0
    database_busy_timeout_seconds: float = 10.0
    # Group commit: each worker sends the payments that arrive while its previous
    # batch is in flight as one statement and one commit (PostgreSQL,
    # ledger/batcher.py), or posts the entries waiting for its writer in one
    # transaction (SQLite, ledger/sqlite_batcher.py). Off, each payment is a
    # statement and a commit of its own.
    ledger_group_commit: bool = True
    # The largest request body read, in bytes; a bigger one is refused (413) before it
    # is read whole. A catalogue import has its own, larger limit.
    request_body_bytes_max: int = 1024 * 1024
    # The reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed:
    # addresses or networks, comma-separated (CAGNOTTE_TRUSTED_PROXIES=10.0.0.5,10.0.1.0/24).
    # None by default: the address a request comes from is the client's, whatever
    # it claims, so per-address limits cannot be dodged with a made-up header.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    # How long an API key lookup may be served from memory.
    api_key_cache_seconds: int = 5
    # The most one bonus code may be worth, per currency, in minor units
    # (JSON in the environment, e.g. CAGNOTTE_BONUS_VALUE_MAX_MINOR='{"CZK": 500000}').
    bonus_value_max_minor: dict[str, int] = {"CZK": 500_000, "EUR": 20_000}
    # Where merchants send campaign funds by bank transfer (with the variable symbol).
    # No default: a real-looking one would send merchants' money to a stranger. Unset
    # in production, requesting a campaign is refused (platform_bank_account_missing);
    # development shows DEVELOPMENT_BANK_ACCOUNT, which is nobody's.
    platform_bank_account: str | None = None
    # The keys gift card numbers (HMAC-SHA256) and bonus codes (BLAKE2b) are hashed
    # and looked up by: each at least 32 random bytes as hex or base64 (`python -c
    # 'import secrets; print(secrets.token_urlsafe(32))'`), several separated by
    # commas, newest first, while a key is rotated (docs/keys.md). Required in
    # production, so that the keys live apart from the hashes; in development,
    # unset, a key is made once and kept in the database.
    gift_card_number_key: str | None = None
    bonus_code_key: str | None = None
    # The key of the gift card PIN hashes (HMAC-SHA256 of number and PIN): the same
    # form and rotation as the two above, required in production likewise.
    gift_card_pin_key: str | None = None
    # Members with no check and no change for this many years are erased by the
    # retention job (crm/privacy.py: personal data anonymised, books kept); unset: never.
    retention_years: int | None = Field(None, ge=1, le=100)
    # A check refund giving back more than this (minor units of the check's
    # currency) needs a manager; a cashier or register key may refund up to it.
    check_refund_cashier_max_minor: int = 50_000

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return [address.strip() for address in value.split(",") if address.strip()]
        return value

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @property
    def campaign_bank_account(self) -> str | None:
        """The account shown in campaigns' funding instructions: the setting, or in
        development an example that is nobody's; None when production has none."""
        if self.platform_bank_account:
            return self.platform_bank_account
        return DEVELOPMENT_BANK_ACCOUNT if self.is_development else None

    @field_validator("gift_card_number_key", "bonus_code_key", "gift_card_pin_key")
    @classmethod
    def _strong_keys(cls, value: str | None, info: ValidationInfo) -> str | None:
        try:
            parse_keys(value)
        except ValueError as error:
            raise ValueError(f"CAGNOTTE_{str(info.field_name).upper()}: {error}") from None
        return value

    @property
    def gift_card_number_keys(self) -> tuple[bytes, ...]:
        return parse_keys(self.gift_card_number_key)

    @property
    def bonus_code_keys(self) -> tuple[bytes, ...]:
        return parse_keys(self.bonus_code_key)

    @property
    def gift_card_pin_keys(self) -> tuple[bytes, ...]:
        return parse_keys(self.gift_card_pin_key)

    def require_production_keys(self) -> None:
        """In production the hashing keys must be settings, never kept beside the hashes."""
        if self.is_development:
            return
        missing = [
            f"CAGNOTTE_{name.upper()}"
            for name in ("gift_card_number_key", "bonus_code_key", "gift_card_pin_key")
            if not parse_keys(getattr(self, name))
        ]
        if missing:
            raise SettingsError(
                f"In production {' and '.join(missing)} must be set, so that the keys of "
                "the card number, bonus code and PIN hashes live apart from the database: "
                "each at least 32 random bytes as hex or base64, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'. "
                "A developer's machine may run with --development "
                "(CAGNOTTE_ENVIRONMENT=development) instead."
            )
