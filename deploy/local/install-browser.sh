#!/usr/bin/env bash
# Installs Debian's chromium for the browser test (tests/e2e/test_inbox_page.py), which
# drives it with Playwright's Python client; Playwright's own browser download is never used.
# Safe to rerun: does nothing when /usr/bin/chromium is already there.
set -euo pipefail

BROWSER=/usr/bin/chromium

if [ -x "$BROWSER" ]; then
    echo "chromium present: $("$BROWSER" --version 2>/dev/null || echo "$BROWSER")"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install chromium" >&2; exit 1; }
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when apt does not know the package yet.
if ! apt-cache show chromium >/dev/null 2>&1; then
    $SUDO apt-get update
fi
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core
echo "chromium installed: $("$BROWSER" --version)"
