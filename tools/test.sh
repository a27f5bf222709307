#!/usr/bin/env bash
# Installs the package with its test dependencies and runs every test against
# the installed package (pytest runs in importlib mode, so the source tree does
# not shadow it). HYPOTHESIS_PROFILE=deep for the long conformance run.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet ".[test]"
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
pytest -q "$@"
