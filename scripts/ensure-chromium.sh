#!/usr/bin/env bash
# The browser test drives Swagger UI in Debian's Chromium (Playwright cannot download
# its own browser here). Install it with apt when it is missing and we are root.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing; install Debian's 'chromium' package (needs root) to run tests/browser" >&2
  exit 1
fi
echo "installing Debian's chromium for the browser test…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
