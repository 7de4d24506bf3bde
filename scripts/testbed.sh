#!/usr/bin/env bash
# A multi-node cluster from network namespaces, built from Kubernetes YAML (packages/testbed). Needs root.
#   scripts/testbed.sh up <cluster.yaml> [--prefix NAME]   build a cluster that stays until `down`
#   scripts/testbed.sh down [NAME...] [--stale] [--all]    remove runs (no NAME: detached ones and those whose
#                                                          owner is gone; --stale: only the latter)
#   scripts/testbed.sh status [--json]                     list runs
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="$root/packages/testbed/dist/src/main.js"
if [ ! -f "$cli" ]; then
  echo "testbed: $cli is not built; run scripts/setup.sh" >&2
  exit 1
fi
exec node "$cli" "$@"
