"""The operator's commands: the version, rotating the operator key, a merchant's first owner,
and one clear line for a database URL that is wrong or out of reach."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

import cagnotte
from cagnotte import __version__
from cagnotte.api.app import create_app
from cagnotte.bootstrap import bootstrap
from cagnotte.cli import app
from cagnotte.config import Settings


@pytest.fixture
def environment(tmp_path: Path, monkeypatch) -> str:
    """A development environment over a fresh SQLite file; returns its URL."""
    for name in [name for name in os.environ if name.startswith("CAGNOTTE_")]:
        monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CAGNOTTE_DATABASE_URL", url)
    monkeypatch.setenv("CAGNOTTE_ENVIRONMENT", "development")
    monkeypatch.setenv("CAGNOTTE_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(app, ["migrate"]).exit_code == 0
    return url


def _client(url: str, tmp_path: Path) -> TestClient:
    settings = Settings(environment="development", database_url=url, outbox_dir=tmp_path / "outbox")
    return TestClient(create_app(bootstrap(settings)), raise_server_exceptions=False)


def test_version_is_said(tmp_path):
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"cagnotte {__version__}"


def test_rotating_the_operator_key_shows_a_new_one_once_and_revokes_the_old(environment, tmp_path):
    services = bootstrap(Settings())
    old_key = services.merchants.ensure_operator_key()
    services.close()

    rotated = CliRunner().invoke(app, ["operator-key", "rotate"])

    assert rotated.exit_code == 0, rotated.output
    assert "Revoked operator keys: 1" in rotated.output
    new_key = rotated.output.split("Operator API key (shown once, keep it safe): ")[1].split()[0]
    assert new_key != old_key
    with _client(environment, tmp_path) as client:
        assert (
            client.get("/v1/merchants", headers={"Authorization": f"Bearer {old_key}"}).json()[
                "code"
            ]
            == "unauthenticated"
        )
        assert (
            client.get("/v1/merchants", headers={"Authorization": f"Bearer {new_key}"}).json()[
                "items"
            ]
            == []
        )


def test_staff_create_gives_a_merchant_an_owner_who_signs_in_with_the_prompted_password(
    environment, tmp_path
):
    with _client(environment, tmp_path) as client:
        services = client.app.state.services
        operator = {"Authorization": f"Bearer {services.merchants.ensure_operator_key()}"}
        merchant = client.post("/v1/merchants", json={"name": "Café Bleu"}, headers=operator)
        merchant_id = merchant.json()["id"]
        password = secrets.token_urlsafe(12)

        created = CliRunner().invoke(
            app,
            ["staff", "create", "--merchant", merchant_id, "--email", "Eva@Example.com"]
            + ["--name", "Eva"],
            input=f"{password}\n{password}\n",
        )
        assert created.exit_code == 0, created.output
        # Prompted without echo: the password is not in what the terminal shows.
        assert password not in created.output
        signed_in = services.auth.staff_sign_in("eva@example.com", password)
        assert signed_in is not None

        unknown = CliRunner().invoke(
            app,
            ["staff", "create", "--merchant", "00000000-0000-4000-8000-000000000001"]
            + ["--email", "x@example.com", "--name", "X", "--password", password],
        )
        assert unknown.exit_code == 1 and "Refused" in unknown.output


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://cagnotte:hunter2@127.0.0.1:1/cagnotte",  # nothing listens there
        "sqlite:////no/such/folder/cagnotte.db",
        "not a url at all",
        "mysql://nobody@127.0.0.1/none",  # a database the service does not speak
    ],
)
@pytest.mark.parametrize("command", [["migrate"], ["jobs", "run"], ["serve", "--development"]])
def test_a_wrong_or_unreachable_database_url_is_one_clear_line_not_a_traceback(
    environment, monkeypatch, url, command
):
    monkeypatch.setenv("CAGNOTTE_DATABASE_URL", url)

    result = CliRunner().invoke(app, command)

    assert result.exit_code in (2, 75), result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "database" in lines[0].lower() or "DATABASE_URL" in lines[0]
    assert "hunter2" not in result.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_workers_log_json_lines_and_their_metrics_add_up_whichever_answers(
    postgres_url, tmp_path
):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CAGNOTTE_", "PROM"))}
    environment |= {
        "CAGNOTTE_DATABASE_URL": postgres_url,
        "CAGNOTTE_OUTBOX_DIR": str(tmp_path / "outbox"),
        # This tree's code, whatever the folder the service runs in.
        "PYTHONPATH": str(Path(cagnotte.__file__).parents[1]),
    }
    command = [sys.executable, "-m", "cagnotte.cli", "serve", "--development"]
    process = subprocess.Popen(
        [*command, "--workers", "2", "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Two workers importing everything on a busy machine: give them time.
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/healthz/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        # Each on a connection of its own, so that both workers get some.
        for number in range(30):
            answer = httpx.get(f"{base}/healthz/live", headers={"X-Request-Id": f"probe-{number}"})
            assert answer.headers["X-Request-Id"] == f"probe-{number}"
        counts = {_live_count(httpx.get(f"{base}/metrics").text) for _ in range(10)}
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=30)

    # Added up across the workers: every scrape, whichever worker answers, says 30.
    assert counts == {30.0}, counts
    log_lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert len(log_lines) == len(stderr.splitlines()), stderr
    probes = [line for line in log_lines if str(line.get("request_id")).startswith("probe-")]
    assert len(probes) == 30
    assert {line["route"] for line in probes} == {"/healthz/live"}
    assert len({line["process"] for line in probes}) == 2  # both workers served
    key = re.search(r"Operator API key \(shown once, keep it safe\): (\S+)", stdout).group(1)
    assert stdout.count(key) == 1 and key not in stderr


def _live_count(exposition: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "cagnotte_http_requests_total" and sample.labels == {
                "method": "GET",
                "route": "/healthz/live",
                "status": "200",
            }:
                return sample.value
    return 0.0
