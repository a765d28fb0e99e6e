#!/usr/bin/env bash
# Set up and run every check and test of lrms, from a fresh clone, as root.
#
#   bash tests/run.sh [PYTEST-ARGS...]
#
# 1. creates .venv and installs the core (with SSH) and every in-tree plugin
#    (plugins/*/pyproject.toml) in editable mode, plus requirements-dev.txt;
# 2. starts the real services the tests need (tests/services/start-*.sh);
# 3. runs ruff, mypy (core), the Sphinx docs build (warnings are errors) and
#    pytest.  A service that fails to start fails the run: nothing is skipped.
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
plugins=()
for dir in plugins/*/; do
    [ -f "$dir/pyproject.toml" ] && plugins+=(-e "./$dir")
done
"$venv/bin/python" -m pip install -q -r requirements-dev.txt -e "./core[ssh]" "${plugins[@]}"
"$venv/bin/python" -m pip install -q -r requirements-docs.txt
export PATH="$venv/bin:$PATH"

step "services"
# One after another: on a fresh machine each installs Debian packages.
bash tests/services/start-sshd.sh
bash tests/services/start-sge.sh
bash tests/services/start-slurm.sh
bash tests/services/setup-torque-wrappers.sh

step "lint and types"
ruff check core plugins examples tests bench
mypy
(cd examples/lrms-at && mypy)

step "docs (warnings are errors)"
sphinx-build -q -W --keep-going -n -b html docs docs/_build/html

step "tests"
python -m pytest "$@"
