"""Settings, read from the environment (CAGNOTTE_*) only when the app is built."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAGNOTTE_", extra="ignore")

    # "production" unless said otherwise: a production service refuses what is
    # only fit for a developer's machine (mail as files, keys kept beside their
    # hashes). `cagnotte serve --development` (or CAGNOTTE_ENVIRONMENT=development)
    # allows them.
    environment: Literal["development", "production"] = "production"
    database_url: str = "sqlite:///cagnotte.db"
    # Where mail goes when no SMTP host is set: one .eml file per message.
    outbox_dir: Path = Path("outbox")
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Cagnotte <no-reply@cagnotte.localhost>"
    public_url: str = "http://127.0.0.1:8000"
    # Seconds between two runs of the scheduled jobs inside `cagnotte serve`.
    jobs_interval_seconds: int = 30
    database_pool_size: int = 10
    # How long a request waits for a connection of the pool (PostgreSQL) or for the
    # write lock (SQLite) before it is answered 503 service_unavailable, to retry.
    database_pool_timeout_seconds: float = 10.0
    database_busy_timeout_seconds: float = 10.0
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
    platform_bank_account: str = "72887288/0300"
    # The HMAC key gift card numbers are looked up by. Unset, one is made once and
    # kept in the database; set it in production so the key lives apart from the hashes.
    gift_card_number_key: str | None = None
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
