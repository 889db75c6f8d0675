"""The `cagnotte` command: serve, migrate, run jobs."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cagnotte.config import Settings

app = typer.Typer(help="Cagnotte: stored value and rewards processing.", no_args_is_help=True)
jobs_app = typer.Typer(help="Scheduled work.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


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
    from cagnotte.bootstrap import bootstrap
    from cagnotte.db.migrate import migrate as run_migrations

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if development:
        # The workers build their settings from the environment, so it is said there.
        os.environ["CAGNOTTE_ENVIRONMENT"] = "development"
    settings = Settings()
    run_migrations(settings.database_url)
    services = bootstrap(settings)
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
    """Run due work once: hold timeouts, lot expiry."""
    from cagnotte.bootstrap import bootstrap
    from cagnotte.db.engine import is_unavailable
    from cagnotte.jobs import run_due_jobs

    services = bootstrap(Settings())
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


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()
