"""The `cagnotte` command: serve on the embedded default, migrate, run jobs."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from cagnotte.cli import app


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_migrates_the_sqlite_default_and_prints_the_url_and_the_operator_key_once(
    tmp_path: Path,
):
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CAGNOTTE_")}
    command = [sys.executable, "-m", "cagnotte.cli", "serve", "--development", "--port", str(port)]

    def start() -> subprocess.Popen:
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            process.kill()
            raise AssertionError(process.stdout.read())
        return process

    process = start()
    try:
        assert (tmp_path / "cagnotte.db").exists()
        # No proxy is trusted by default: what a client says it came over is not believed.
        claimed = httpx.get(
            f"http://127.0.0.1:{port}/healthz", headers={"X-Forwarded-Proto": "https"}
        )
        assert "Strict-Transport-Security" not in claimed.headers
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert f"http://127.0.0.1:{port}" in output
    key = re.search(r"Operator API key \(shown once, keep it safe\): (\S+)", output).group(1)

    process = start()
    try:
        key_response = httpx.get(
            f"http://127.0.0.1:{port}/v1/merchants", headers={"Authorization": f"Bearer {key}"}
        )
    finally:
        process.terminate()
        second_output = process.communicate(timeout=30)[0]
    assert key_response.status_code == 200 and key_response.json()["items"] == []
    assert "Operator API key" not in second_output


def test_serve_believes_forwarded_headers_from_a_trusted_proxy_only(tmp_path: Path):
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CAGNOTTE_")}
    environment["CAGNOTTE_TRUSTED_PROXIES"] = "127.0.0.1"
    process = subprocess.Popen(
        [sys.executable, "-m", "cagnotte.cli", "serve", "--development", "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "cagnotte serve did not start"
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/healthz", headers={"X-Forwarded-Proto": "https"}
                )
                break
            except httpx.HTTPError:
                time.sleep(0.2)
    finally:
        process.terminate()
        process.communicate(timeout=30)

    # The trusted proxy says the client came over TLS: the answer pins it.
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


def test_migrate_and_jobs_run_work_on_a_fresh_database(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CAGNOTTE_DATABASE_URL", f"sqlite:///{tmp_path / 'jobs.db'}")
    # In production, as the default environment is: with the keys of the hashes.
    monkeypatch.setenv("CAGNOTTE_GIFT_CARD_NUMBER_KEY", secrets.token_urlsafe(32))
    monkeypatch.setenv("CAGNOTTE_BONUS_CODE_KEY", secrets.token_hex(32))
    monkeypatch.setenv("CAGNOTTE_GIFT_CARD_PIN_KEY", secrets.token_hex(32))
    # Mail goes by SMTP in production (nothing is sent here: the outbox is empty).
    monkeypatch.setenv("CAGNOTTE_SMTP_HOST", "127.0.0.1")
    runner = CliRunner()
    migrated = runner.invoke(app, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    assert "Database migrated" in migrated.output
    jobs = runner.invoke(app, ["jobs", "run"])
    assert jobs.exit_code == 0, jobs.output
    assert "holds_expired: 0" in jobs.output and "lots_expired: 0" in jobs.output
    assert "mails_sent: 0" in jobs.output


def test_in_production_without_an_smtp_host_neither_the_service_nor_the_jobs_start(
    tmp_path: Path, monkeypatch
):
    for name in [name for name in os.environ if name.startswith("CAGNOTTE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CAGNOTTE_DATABASE_URL", f"sqlite:///{tmp_path / 'refused.db'}")
    monkeypatch.setenv("CAGNOTTE_GIFT_CARD_NUMBER_KEY", secrets.token_urlsafe(32))
    monkeypatch.setenv("CAGNOTTE_BONUS_CODE_KEY", secrets.token_hex(32))
    monkeypatch.setenv("CAGNOTTE_GIFT_CARD_PIN_KEY", secrets.token_hex(32))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for command in (["serve"], ["jobs", "run"]):
        refused = runner.invoke(app, command)
        assert refused.exit_code == 2, refused.output
        assert "No SMTP host is set (CAGNOTTE_SMTP_HOST)" in refused.output
    # Refused before anything was written: no database, no outbox folder.
    assert sorted(path.name for path in tmp_path.iterdir()) == []
