"""Settings, read from the environment (CAGNOTTE_*) only when the app is built."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAGNOTTE_", extra="ignore")

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
    # How long an API key lookup may be served from memory.
    api_key_cache_seconds: float = 5.0
