#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real. Idempotent; needs root (CI and dev machines are).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "install-system: missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
