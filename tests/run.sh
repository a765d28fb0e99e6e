#!/usr/bin/env bash
# Set up and run every check and test of lrms, from a fresh clone, as root.
#
#   bash tests/run.sh [PYTEST-ARGS...]
#
# 1. creates .venv and installs the core (with SSH) and every in-tree plugin
#    in editable mode, plus the dev tools of requirements-dev.txt;
# 2. starts the real services the tests need (tests/services/start-*.sh);
# 3. runs ruff, mypy (core) and pytest.  A service that fails to start fails
#    the run: nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${LRMS_VENV:-$root/.venv}

step() { printf '\n== %s\n' "$*"; }

step "python environment ($venv)"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r requirements-dev.txt \
    -e "./core[ssh]" -e ./plugins/lrms-shellcmd
export PATH="$venv/bin:$PATH"

step "services"
bash tests/services/start-sshd.sh

step "lint and types"
ruff check core plugins tests bench
mypy

step "tests"
python -m pytest "$@"
