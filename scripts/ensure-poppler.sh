#!/usr/bin/env bash
# The compliance-report test renders the PDF to PNG with poppler's pdftoppm (Debian's
# poppler-utils). Install it with apt when it is missing and we are root.
set -euo pipefail
if command -v pdftoppm >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "pdftoppm is missing; install Debian's 'poppler-utils' package (needs root) to run the report tests" >&2
  exit 1
fi
echo "installing Debian's poppler-utils for the report tests…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null
command -v pdftoppm >/dev/null
