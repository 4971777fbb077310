#!/usr/bin/env bash
# Set up textmine in ./.venv: pinned dependencies (requirements.txt, torch pinned
# to the 2.13.0 CPU build) and textmine itself in editable mode.  Idempotent: a
# second call with unchanged requirements returns in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "textmine needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

stamp=$(cat requirements.txt pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [[ -f $VENV/.setup-stamp && "$(cat $VENV/.setup-stamp)" == "$stamp" ]]; then
  exit 0
fi

[[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# (grep hides pip's notes about optional local package folders this machine lacks)
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . 2>/dev/null \
  || "$VENV/bin/python" -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e .
echo "$stamp" > "$VENV/.setup-stamp"
echo "textmine is set up in $VENV" >&2
