#!/usr/bin/env bash
# Installs headless Chromium from the distribution's packages when it is missing (the browser tests need it).
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "setup: installing Chromium for the browser tests (apt-get)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
else
  echo "setup: Chromium is missing; install it (e.g. sudo apt-get install chromium) for tests/test_browser.py." >&2
  exit 1
fi
