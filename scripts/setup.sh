#!/usr/bin/env bash
# Installs everything Ambit needs on a fresh Debian 12 machine with Node 20 and npm, then builds it.
# Idempotent: each step is skipped when already satisfied. Used by scripts/demo.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION="$(node -p "require('./package.json').packageManager.split('@')[1]")"
# Debian packages: kernel tooling for capture and the testbed, and the independent peers we measure against
# (python3-h2: a non-Node HBONE client for the interop test; nginx-light: the C baseline proxy and the HTTP
# server of `pnpm bench waypoint`, whose load generators are wrk and nghttp2-client's h2load).
DEBIAN_PACKAGES=(nftables iproute2 iptables stunnel4 nghttp2-client iperf3 curl procps python3-h2 nginx-light wrk)

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION"
  npm install -g --no-fund --no-audit "pnpm@$PNPM_VERSION" >/dev/null
fi

pnpm install --frozen-lockfile --prefer-offline --reporter=silent
# The IP_TRANSPARENT / SO_MARK addon, built against this Node's headers. `pnpm install` builds it only when it
# installs something, so build it here every time (about a second).
pnpm --filter @ambit/sockopt run --silent build:native
pnpm run --silent build
