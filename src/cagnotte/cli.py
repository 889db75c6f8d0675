"""The `cagnotte` command: serve, migrate, run jobs, report on the hashing keys."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from cagnotte.config import Settings, SettingsError

if TYPE_CHECKING:
    from cagnotte.bootstrap import Services
    from cagnotte.security.hash_keys import KeyUsage

app = typer.Typer(help="Cagnotte: stored value and rewards processing.", no_args_is_help=True)
jobs_app = typer.Typer(help="Scheduled work.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
keys_app = typer.Typer(
    help="The keys of the card number and bonus code hashes (docs/keys.md).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


@app.command()
def migrate() -> None:
    """Bring the database (CAGNOTTE_DATABASE_URL, default ./cagnotte.db) to the newest schema."""
    from cagnotte.db.migrate import migrate as run_migrations

    settings = Settings()
    run_migrations(settings.database_url)
    typer.echo(f"Database migrated: {_safe(settings.database_url)}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only).")] = 1,
    jobs: Annotated[bool, typer.Option(help="Run the scheduled jobs in this process.")] = True,
    development: Annotated[
        bool,
        typer.Option(
            "--development",
            help="A developer's machine: mail written as files, keys kept in the database.",
        ),
    ] = False,
) -> None:
    """Migrate the database, then serve the API and the pages."""
    import os

    import uvicorn

    from cagnotte.asgi import proxy_options
    from cagnotte.db.migrate import migrate as run_migrations

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if development:
        # The workers build their settings from the environment, so it is said there.
        os.environ["CAGNOTTE_ENVIRONMENT"] = "development"
    settings = _settings()
    _require_production_keys(settings)
    _require_mail(settings)
    run_migrations(settings.database_url)
    services = _bootstrap(settings)
    operator_key = services.merchants.ensure_operator_key()
    services.close()
    url = f"http://{host}:{port}"
    typer.echo(f"Cagnotte is serving on {url} (API docs: {url}/docs)")
    typer.echo(f"Database: {_safe(settings.database_url)}")
    if operator_key:
        typer.echo(f"Operator API key (shown once, keep it safe): {operator_key}")
    if workers > 1 and settings.database_url.startswith("sqlite"):
        typer.echo("SQLite has one writer at a time: serving with one worker.")
        workers = 1
    factory = "application" if jobs else "application_without_jobs"
    uvicorn.run(
        f"cagnotte.asgi:{factory}",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # Settings.trusted_proxies (none by default): whose X-Forwarded-* are believed.
        **proxy_options(settings),
    )


@jobs_app.command("run")
def jobs_run() -> None:
    """Run due work once: hold timeouts, lot expiry, settlement, card expiry, the mail outbox."""
    from cagnotte.db.engine import is_unavailable
    from cagnotte.jobs import run_due_jobs

    services = _bootstrap(_settings())
    try:
        done = run_due_jobs(services)
    except Exception as error:
        if not is_unavailable(error):
            raise
        typer.echo(f"The database is busy or out of reach ({type(error).__name__}): try again.")
        raise typer.Exit(code=75) from None  # EX_TEMPFAIL: worth running again later
    finally:
        services.close()
    typer.echo(", ".join(f"{name}: {count}" for name, count in done.items()))


@keys_app.command("status")
def keys_status() -> None:
    """How many card numbers and bonus codes still need an older key of their hashes."""
    services = _bootstrap(_settings())
    try:
        reports = [
            (
                "Gift card numbers",
                "CAGNOTTE_GIFT_CARD_NUMBER_KEY",
                "cards (not closed)",
                services.settings.gift_card_number_keys,
                services.gift_cards.number_key_usage(),
            ),
            (
                "Bonus codes",
                "CAGNOTTE_BONUS_CODE_KEY",
                "codes (unused, of active campaigns)",
                services.settings.bonus_code_keys,
                services.bonus_codes.code_key_usage(),
            ),
        ]
    finally:
        services.close()
    for title, variable, rows, configured, usage in reports:
        typer.echo(_key_report(title, variable, rows, bool(configured), usage))


def _key_report(title: str, variable: str, rows: str, configured: bool, usage: KeyUsage) -> str:
    source = (
        f"{variable}, {len(usage.key_ids)} key(s), newest first"
        if configured
        else "no setting: the development key kept in the database"
    )
    lines = [f"{title} ({source}), {rows} per key:"]
    for position, identity in enumerate(usage.key_ids, 1):
        newest = " (newest)" if position == 1 else ""
        lines.append(f"  key {position}{newest} {identity}: {usage.rows_by_key.get(identity, 0)}")
    if None in usage.rows_by_key:
        lines.append(f"  hashed before key ids were kept: {usage.rows_by_key[None]}")
    if usage.under_unknown_keys:
        lines.append(
            f"  under a key no longer configured (no look-up finds them): "
            f"{usage.under_unknown_keys}"
        )
    if usage.under_older_keys:
        lines.append(
            f"  {usage.under_older_keys} still need an older key: keep the older keys "
            "until this is 0 (each is hashed again under the newest when next looked up)."
        )
    else:
        lines.append("  none needs an older key: the older keys may be dropped.")
    return "\n".join(lines)


def _settings() -> Settings:
    """The settings from the environment; a refused one stops the command with its reason."""
    try:
        return Settings()
    except ValidationError as error:
        typer.echo(f"Refused settings: {error}", err=True)
        raise typer.Exit(2) from None


def _require_production_keys(settings: Settings) -> None:
    try:
        settings.require_production_keys()
    except SettingsError as error:
        typer.echo(f"Refused settings: {error}", err=True)
        raise typer.Exit(2) from None


def _require_mail(settings: Settings) -> None:
    """In production mail goes by SMTP only (mail.build_mailer refuses the file outbox)."""
    from cagnotte.mail import build_mailer

    try:
        build_mailer(settings)
    except SettingsError as error:
        typer.echo(f"Refused settings: {error}", err=True)
        raise typer.Exit(2) from None


def _bootstrap(settings: Settings) -> Services:
    """The services (bootstrap refuses a production without its keys or SMTP: said, not a
    traceback)."""
    from cagnotte.bootstrap import bootstrap

    _require_production_keys(settings)
    _require_mail(settings)
    return bootstrap(settings)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()
