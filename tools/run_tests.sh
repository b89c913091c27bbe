#!/usr/bin/env bash
# README command (b): install everything (idempotent), then run the test suite.
#   bash tools/run_tests.sh [extra pytest args]
set -eo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
# shellcheck disable=SC1091
source tools/setup_env.sh
echo "[mmgres] environment ready in $((SECONDS - t0)) s"
t1=$SECONDS
export PYTHONUNBUFFERED=1
python -m pytest tests projects -n "${MMGRES_TEST_WORKERS:-2}" --dist loadfile "$@"
echo "[mmgres] tests finished in $((SECONDS - t1)) s"
