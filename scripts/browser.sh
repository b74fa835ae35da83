#!/usr/bin/env bash
# The real browser the end-to-end tests drive (tests/e2e/test_authorize_browser.py): Debian's
# chromium and chromium-driver, installed with apt when missing. `make test` runs this.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [[ $EUID -eq 0 ]] || SUDO="sudo"

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
echo "[browser] installing chromium chromium-driver (apt)" >&2
if ! $SUDO apt-get install -y -q chromium chromium-driver >&2; then
  $SUDO apt-get update -q >&2
  $SUDO apt-get install -y -q chromium chromium-driver >&2
fi
