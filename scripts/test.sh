#!/usr/bin/env bash
# The README's test command: set up (idempotent), lint, then run every test and print `N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pnpm run --silent lint
node scripts/run-tests.mjs "$@"
