"""docs/walkthrough.md, run: its shell blocks in order against a live development server.

Each `sh` block is a step; the `http` block right after it is the answer it shows.
The steps run in one bash (variables carry over) with `curl` wrapped to log each
answer's status and keep its body, in a folder laid out like the one `cagnotte
serve --development` runs in: `./outbox` for the mail and `.venv/bin/cagnotte`
for the commands. A step must get the status its answer shows, every field name
the answer shows, and its problem `code`; a step without an answer makes no
request. What only a person could type (the operator key printed by `serve`, a
captcha's characters) is read with `read`, and fed here on the standard input.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cagnotte.api.app import create_app
from cagnotte.bootstrap import bootstrap
from cagnotte.config import Settings
from cagnotte.db.migrate import migrate
from cagnotte.jobs import JobScheduler
from tests.e2e.api.concurrency import running_server

ROOT = Path(__file__).resolve().parents[2]
WALKTHROUGH = ROOT / "docs" / "walkthrough.md"
CAPTCHA_ANSWER = "7KQ2PX"
WALK_TIMEOUT_SECONDS = 300


@dataclass
class Step:
    line: int
    script: str
    # The answer shown after the block: its status and its text; None for a step that
    # makes no request.
    status: int | None = None
    answer: str = ""


def walkthrough_steps(text: str) -> list[Step]:
    """The sh blocks of the page, each with the http answer that follows it."""
    steps: list[Step] = []
    lines = text.splitlines()
    index = 0
    last_closed: str | None = None
    while index < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[index])
        if not fence or not fence.group(1):
            if lines[index].strip():
                last_closed = None
            index += 1
            continue
        language, start = fence.group(1), index + 1
        end = next(i for i in range(start, len(lines)) if lines[i].startswith("```"))
        body = "\n".join(lines[start:end])
        if language == "sh":
            steps.append(Step(line=start, script=body))
        elif language == "http":
            assert last_closed == "sh", f"line {start}: an answer follows no sh block"
            status = re.match(r"^HTTP/1\.1 (\d{3}) ", lines[start])
            assert status, f"line {start}: an answer starts with its status line"
            steps[-1].status, steps[-1].answer = int(status.group(1)), body
        last_closed, index = language, end + 1
    return steps


def bash_program(steps: list[Step], folder: Path) -> str:
    """One bash program: the steps in order, each followed by a mark in the log."""
    log, count = folder / "walk.log", folder / "walk.count"
    count.write_text("0")
    wrapper = f"""set -euo pipefail
curl() {{
  local n=$(( $(cat {shlex.quote(str(count))}) + 1 ))
  echo "$n" > {shlex.quote(str(count))}
  command curl --write-out '%{{stderr}}@@status %{{http_code}}\\n' "$@" \\
    2>>{shlex.quote(str(log))} | tee {shlex.quote(str(folder))}/walk.body."$n"
}}
"""
    parts = [wrapper]
    for number, step in enumerate(steps):
        parts.append(step.script)
        parts.append(f"echo '@@step {number}' >> {shlex.quote(str(log))}")
    return "\n".join(parts) + "\n"


def statuses_by_step(log: str) -> dict[int, list[tuple[int, int]]]:
    """(request number, status) of each step's requests, from the wrapper's log."""
    by_step: dict[int, list[tuple[int, int]]] = {}
    pending: list[int] = []
    for line in log.splitlines():
        if line.startswith("@@status "):
            pending.append(int(line.split()[1]))
        elif line.startswith("@@step "):
            by_step[int(line.split()[1])] = pending
            pending = []
    numbered: dict[int, list[tuple[int, int]]] = {}
    request = 0
    for step in sorted(by_step):
        numbered[step] = []
        for status in by_step[step]:
            request += 1
            numbered[step].append((request, status))
    return numbered


def typed_answers(text: str, answers: dict[str, str]) -> str:
    """What a person would type at each `read` of the page, in order."""
    names = re.findall(r"read -r -p '[^']*' (\w+)", text)
    missing = [name for name in names if name not in answers]
    assert not missing, f"the test does not know what to type for {missing}"
    return "".join(f"{answers[name]}\n" for name in names)


def write_cagnotte_command(folder: Path) -> None:
    """`.venv/bin/cagnotte` in the folder: this interpreter's cagnotte, as the venv of the
    README would run it. It gets no CAGNOTTE_* setting: run in the folder, its defaults
    (`cagnotte.db`, `./outbox`) are the server's, and it is in production unless the
    page says otherwise, as on a reader's machine."""
    command = folder / ".venv" / "bin" / "cagnotte"
    command.parent.mkdir(parents=True)
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    command.write_text(
        f"#!/bin/sh\nexport PYTHONPATH={shlex.quote(path)}\n"
        f'exec {shlex.quote(sys.executable)} -m cagnotte.cli "$@"\n'
    )
    command.chmod(0o755)


def check_answer(step: Step, status: int, body: str) -> None:
    where = f"docs/walkthrough.md line {step.line}"
    assert status == step.status, f"{where}: answered {status}, the page shows {step.status}"
    for name in re.findall(r'"(\w+)":', step.answer):
        assert f'"{name}":' in body, f"{where}: the answer has no field {name!r}: {body[:500]}"
    shown_code = re.search(r'"code": "(\w+)"', step.answer)
    if status >= 400 and shown_code:
        assert json.loads(body)["code"] == shown_code.group(1), f"{where}: {body}"


def test_the_walkthrough_runs_against_a_live_development_server(tmp_path: Path):
    # Failed, not skipped, without them: a walk-through nobody runs rots.
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    assert not missing, f"the walk-through needs {missing} (scripts/test.sh installs them)"
    text = WALKTHROUGH.read_text()
    steps = walkthrough_steps(text)
    assert sum(step.status is not None for step in steps) >= 20, "the page lost its steps"
    # Where `cagnotte serve --development` keeps them when run in the folder.
    database_url = f"sqlite:///{tmp_path / 'cagnotte.db'}"
    write_cagnotte_command(tmp_path)
    migrate(database_url)
    services = bootstrap(
        Settings(
            environment="development",
            database_url=database_url,
            outbox_dir=tmp_path / "outbox",
        )
    )
    services.captchas.make_answer = lambda: CAPTCHA_ANSWER
    operator_key = services.merchants.ensure_operator_key()
    assert operator_key is not None
    # The mail every half second (serve: every 2); the other jobs only when the page runs them.
    scheduler = JobScheduler(services, interval_seconds=3600, mail_interval_seconds=0.5)
    program = tmp_path / "walkthrough.sh"
    program.write_text(bash_program(steps, tmp_path))
    try:
        with running_server(create_app(services)) as url:
            scheduler.start()
            ran = subprocess.run(
                ["bash", str(program)],
                cwd=tmp_path,
                input=typed_answers(text, {"OP": operator_key, "CAPTCHA_ANSWER": CAPTCHA_ANSWER}),
                env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CAGNOTTE": url},
                capture_output=True,
                text=True,
                timeout=WALK_TIMEOUT_SECONDS,
            )
    finally:
        scheduler.stop()
        services.close()
    log = (tmp_path / "walk.log").read_text() if (tmp_path / "walk.log").exists() else ""
    done = statuses_by_step(log)
    assert ran.returncode == 0, (
        f"the walk-through stopped after step {max(done, default=-1)} "
        f"(docs/walkthrough.md line {steps[len(done)].line if len(done) < len(steps) else '?'}):"
        f"\n{ran.stderr[-3000:]}\n{log[-2000:]}"
    )
    assert len(done) == len(steps)
    for number, step in enumerate(steps):
        requests = done[number]
        if step.status is None:
            assert not requests, f"docs/walkthrough.md line {step.line}: show its answer"
            continue
        assert len(requests) == 1, f"docs/walkthrough.md line {step.line}: one request a step"
        request, status = requests[0]
        check_answer(step, status, (tmp_path / f"walk.body.{request}").read_text())
