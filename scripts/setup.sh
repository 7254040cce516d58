#!/usr/bin/env bash
# Creates .venv (the project: requirements.lock) and .venv-dvc (DVC as a tool: requirements-dvc.lock) and installs
# the locked environments into them. DVC has its own environment because its hydra pins antlr4 4.9 while Dagster's
# asset-selection grammar needs 4.13. Idempotent: when the lock files and pyproject.toml are unchanged since the
# last install it does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin=${PYTHON:-python3.11}
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3
if ! "$python_bin" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  echo "setup: Python 3.11 is required (found $("$python_bin" --version 2>&1)); set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

# pip's output is shown only when it fails (some pip configurations print a warning per package).
pip_install() {
  local venv=$1; shift
  local log; log=$(mktemp)
  if ! "$venv/bin/python" -m pip install --quiet "$@" >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" >&2; rm -f "$log"; return 1
  fi
  rm -f "$log"
}

[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
stamp=.venv/.janusflow-installed
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the locked environment into .venv (first run takes a few minutes)"
  pip_install .venv --upgrade pip==26.3 setuptools==84.2.1 wheel==0.48.0
  pip_install .venv -r requirements.lock
  pip_install .venv --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi

[ -x .venv-dvc/bin/python ] || "$python_bin" -m venv .venv-dvc
stamp=.venv-dvc/.janusflow-installed
want=$(sha256sum < requirements-dvc.lock | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing DVC into .venv-dvc"
  pip_install .venv-dvc --upgrade pip==26.3 setuptools==84.2.1 wheel==0.48.0
  pip_install .venv-dvc -r requirements-dvc.lock
  echo "$want" > "$stamp"
fi
