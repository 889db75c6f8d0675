"""How `cagnotte serve` starts uvicorn: the HTTP implementation and event loop measured best."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from cagnotte.cli import app as cli


@pytest.fixture
def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    # `serve --development` says so in the environment for its workers: recorded
    # here, so that the test's end takes it away again (the later tests of this
    # process build production settings).
    monkeypatch.setenv("CAGNOTTE_ENVIRONMENT", "production")
    monkeypatch.setenv("CAGNOTTE_DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    monkeypatch.setenv("CAGNOTTE_OUTBOX_DIR", str(tmp_path / "outbox"))
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: calls.append(options))
    return calls


def test_serve_starts_uvicorn_on_httptools_and_uvloop_by_default(started) -> None:  # noqa: ANN001
    result = CliRunner().invoke(cli, ["serve", "--development", "--no-jobs"])

    assert result.exit_code == 0, result.output
    assert started[0]["http"] == "httptools" and started[0]["loop"] == "uvloop"


def test_serve_takes_another_http_implementation_and_loop_when_asked(started) -> None:  # noqa: ANN001
    result = CliRunner().invoke(
        cli, ["serve", "--development", "--no-jobs", "--http", "h11", "--loop", "asyncio"]
    )

    assert result.exit_code == 0, result.output
    assert started[0]["http"] == "h11" and started[0]["loop"] == "asyncio"
