#!/usr/bin/env bash
# The README's main-job command: set up (idempotent), then run the local demo on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec pnpm run --silent demo "$@"
