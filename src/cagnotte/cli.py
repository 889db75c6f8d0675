"""The `cagnotte` command: serve, migrate, run jobs, report on the hashing keys, rotate the
operator key, create a merchant's first owner.

A database URL that is wrong or out of reach is said in one line (and a non-zero
exit), not a traceback. Secrets (the operator key) are shown on the terminal with
typer.echo, once, never written to a log line.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from cagnotte import __version__
from cagnotte.config import Settings, SettingsError

if TYPE_CHECKING:
    from cagnotte.bootstrap import Services
    from cagnotte.security.hash_keys import KeyUsage

app = typer.Typer(help="Cagnotte: stored value and rewards processing.", no_args_is_help=True)
jobs_app = typer.Typer(help="Scheduled work.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
keys_app = typer.Typer(
    help="The keys of the card number, bonus code and PIN hashes (docs/keys.md).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
operator_key_app = typer.Typer(help="The operator's API key.", no_args_is_help=True)
app.add_typer(operator_key_app, name="operator-key")
staff_app = typer.Typer(help="Merchants' staff.", no_args_is_help=True)
app.add_typer(staff_app, name="staff")

# Exit statuses: a refused setting (a URL that is not one) and a database out of
# reach (EX_TEMPFAIL: worth running again later).
EXIT_REFUSED_SETTINGS = 2
EXIT_DATABASE_UNAVAILABLE = 75


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"cagnotte {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and stop."
        ),
    ] = False,
) -> None:
    """Cagnotte: stored value and rewards processing."""


@app.command()
def migrate() -> None:
    """Bring the database (CAGNOTTE_DATABASE_URL, default ./cagnotte.db) to the newest schema."""
    from cagnotte.db.migrate import migrate as run_migrations

    settings = _settings()
    with _database_reached(settings.database_url):
        run_migrations(settings.database_url)
    typer.echo(f"Database migrated: {_safe(settings.database_url)}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only).")] = 1,
    jobs: Annotated[bool, typer.Option(help="Run the scheduled jobs in this process.")] = True,
    # httptools and uvloop (uvicorn[standard]): measured, h11 or asyncio cost a payment
    # over a third more CPU in the service (bench/README.md). Named rather than
    # "auto", which would fall back to those silently where they are missing.
    http: Annotated[
        str, typer.Option(help="uvicorn's HTTP implementation: httptools, h11 or auto.")
    ] = "httptools",
    loop: Annotated[
        str, typer.Option(help="uvicorn's event loop: uvloop, asyncio or auto.")
    ] = "uvloop",
    development: Annotated[
        bool,
        typer.Option(
            "--development",
            help="A developer's machine: mail written as files, keys kept in the database.",
        ),
    ] = False,
) -> None:
    """Migrate the database, then serve the API and the pages."""
    import uvicorn

    from cagnotte.logs import configure_logging, logging_config

    configure_logging()
    if development:
        # The workers build their settings from the environment, so it is said there.
        os.environ["CAGNOTTE_ENVIRONMENT"] = "development"
    settings = _settings()
    _require_production_keys(settings)
    _require_mail(settings)
    if workers > 1 and settings.database_url.startswith("sqlite"):
        typer.echo("SQLite has one writer at a time: serving with one worker.")
        workers = 1
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Before the metrics are first imported (by the app, below, and by the
        # workers): every worker's counters are kept there, /metrics adds them up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cagnotte-metrics-")

    from cagnotte.asgi import proxy_options
    from cagnotte.db.migrate import migrate as run_migrations

    with _database_reached(settings.database_url):
        run_migrations(settings.database_url)
        services = _bootstrap(settings)
        try:
            operator_key = services.merchants.ensure_operator_key()
        finally:
            services.close()
    url = f"http://{host}:{port}"
    typer.echo(f"Cagnotte is serving on {url} (API docs: {url}/docs)")
    typer.echo(f"Database: {_safe(settings.database_url)}")
    if operator_key:
        typer.echo(f"Operator API key (shown once, keep it safe): {operator_key}")
    factory = "application" if jobs else "application_without_jobs"
    uvicorn.run(
        f"cagnotte.asgi:{factory}",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=http,
        loop=loop,
        # JSON lines, set up in each worker; the access log is the application's own
        # (api/observability.py): route template, status, duration, request id.
        log_config=logging_config(),
        access_log=False,
        lifespan="on",
        # Settings.trusted_proxies (none by default): whose X-Forwarded-* are believed.
        **proxy_options(settings),
    )


@jobs_app.command("run")
def jobs_run() -> None:
    """Run due work once: hold timeouts, lot expiry, settlement, card expiry, the mail outbox."""
    from cagnotte.jobs import run_due_jobs

    settings = _settings()
    with _database_reached(settings.database_url):
        services = _bootstrap(settings)
        try:
            done = run_due_jobs(services)
        finally:
            services.close()
    typer.echo(", ".join(f"{name}: {count}" for name, count in done.items()))


@operator_key_app.command("rotate")
def operator_key_rotate() -> None:
    """A new operator key, shown once; every older operator key is revoked."""
    settings = _settings()
    with _database_reached(settings.database_url):
        services = _bootstrap(settings)
        try:
            key, revoked = services.merchants.rotate_operator_key()
        finally:
            services.close()
    typer.echo(f"Revoked operator keys: {revoked}")
    typer.echo(f"Operator API key (shown once, keep it safe): {key}")


@staff_app.command("create")
def staff_create(
    merchant: Annotated[uuid.UUID, typer.Option(help="The merchant's id.")],
    email: Annotated[str, typer.Option(help="The owner's e-mail, to sign in with.")],
    name: Annotated[str, typer.Option(help="The owner's name.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="Asked for when not given (not echoed).",
        ),
    ],
) -> None:
    """Give a merchant an owner who signs in to the back-office with a password."""
    from cagnotte.errors import DomainError

    settings = _settings()
    with _database_reached(settings.database_url):
        services = _bootstrap(settings)
        try:
            member = services.merchants.create_first_owner(
                merchant, email=email, name=name, password=password
            )
        except DomainError as error:
            typer.echo(f"Refused: {error.message}", err=True)
            raise typer.Exit(1) from None
        finally:
            services.close()
    typer.echo(f"Owner created: {member['id']} (merchant {merchant})")


@keys_app.command("status")
def keys_status() -> None:
    """How many card numbers, bonus codes and PINs still need an older key of their hashes."""
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
            (
                "Gift card PINs",
                "CAGNOTTE_GIFT_CARD_PIN_KEY",
                "cards with a PIN (not closed)",
                services.settings.gift_card_pin_keys,
                services.gift_cards.pin_key_usage(),
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
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Not a URL: not shown either, it may hold a password somewhere.
        return "CAGNOTTE_DATABASE_URL"


@contextmanager
def _database_reached(url: str) -> Iterator[None]:
    """A database URL that is not one, or a database out of reach: one line, an exit status."""
    import sqlite3

    import psycopg
    from sqlalchemy import exc as sqlalchemy_errors
    from sqlalchemy.engine import make_url

    from cagnotte.db.engine import is_unavailable

    try:
        backend = make_url(url).get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise sqlalchemy_errors.ArgumentError(
                f"a {backend} database is not supported (sqlite or postgresql)"
            )
        yield
    except sqlalchemy_errors.ArgumentError as error:
        typer.echo(f"Refused settings: CAGNOTTE_DATABASE_URL: {_first_line(error)}", err=True)
        raise typer.Exit(EXIT_REFUSED_SETTINGS) from None
    except (sqlalchemy_errors.DBAPIError, sqlalchemy_errors.TimeoutError, psycopg.Error) as error:
        if not is_unavailable(error) and not isinstance(
            getattr(error, "orig", error), (psycopg.OperationalError, sqlite3.OperationalError)
        ):
            raise  # a bug, not the database's reach: its traceback is wanted
        typer.echo(
            f"The database {_safe(url)} is out of reach or busy: {_first_line(error)}", err=True
        )
        raise typer.Exit(EXIT_DATABASE_UNAVAILABLE) from None


def _first_line(error: BaseException) -> str:
    """The error's own first line (the driver's, not SQLAlchemy's wrapping of it)."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return text[0] if text else type(error).__name__


if __name__ == "__main__":
    app()
