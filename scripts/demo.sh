#!/usr/bin/env bash
# The README's main-job command: set up (idempotent), then run the local mesh demo on deploy/examples/
# (control plane, two nodes in network namespaces, a ztunnel per node). The mesh needs root: as another
# user, the demo itself runs through sudo. `pnpm demo:hbone` is the smaller HBONE-only demo (no root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$(id -u)" -eq 0 ]; then
  exec node packages/demo/dist/src/mesh-demo.js "$@"
fi
exec sudo env "PATH=$PATH" node packages/demo/dist/src/mesh-demo.js "$@"
