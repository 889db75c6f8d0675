#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite on SQLite and PostgreSQL.
#   scripts/test.sh [pytest arguments]
# System packages (PostgreSQL's server, Chromium for the browser tests, curl and jq
# for the walk-through) come from Debian when missing; Python packages from PyPI.
# A throw-away PostgreSQL cluster is started on 127.0.0.1 for the run and removed
# afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
[ -x /usr/bin/chromium ] || missing+=(chromium)
# The walk-through of docs/walkthrough.md, run by the tests, uses curl and jq.
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v jq >/dev/null 2>&1 || missing+=(jq)
# A stock Debian or Ubuntu Python refuses pip outside a virtual environment
# (PEP 668), and makes venvs only with its python3-venv package.
if [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing ${missing[*]} from Debian ..."
  sudo=""
  [ "$(id -u)" = "0" ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Everything Python goes into the project's own virtual environment.
[ -x .venv/bin/python ] || python3 -m venv .venv
python=.venv/bin/python
"$python" -m pip install -q --disable-pip-version-check -e '.[test]'

workdir=$(mktemp -d /tmp/cagnotte-test.XXXXXX)
chmod 755 "$workdir"
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  scripts/postgres.sh stop "$workdir/pg"
  rm -rf "$workdir"
}
trap cleanup EXIT
CAGNOTTE_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$workdir/pg" "$port" fast)
export CAGNOTTE_TEST_POSTGRES_URL
echo "PostgreSQL for the tests: $CAGNOTTE_TEST_POSTGRES_URL"

# Two test processes (pytest-xdist; each has its own template databases): the
# suite takes about 7 minutes instead of 12 on a machine of two cores. `-n 0`
# among the arguments runs it in one. pytest-benchmark, where some machine has it,
# would turn xdist's presence into a warning, which the suite makes an error.
"$python" -m pytest -n "${CAGNOTTE_TEST_PROCESSES:-2}" -p no:benchmark "$@"
