#!/usr/bin/env bash
# Set up for the tests: everything scripts/setup.sh does, plus Debian's Chromium for the
# browser test of report.html (no browser is downloaded by any test tool).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the report test" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing and cannot be installed here (needs root and apt-get);" \
         "install Debian's chromium package, or the report browser test will fail" >&2
  fi
fi
