#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (tests/e2e/test_inbox_page.py and the
# demo's sign-in test), which drive it with Playwright's Python client; Playwright's own
# browser download is never used. `make test` runs this first.
# Idempotent and quick when chromium is there. Where it cannot install (no apt-get, or
# neither root nor password-less sudo) it says so in one line on stderr and exits 1.
set -euo pipefail

BROWSER=/usr/bin/chromium

if [ -x "$BROWSER" ]; then
    echo "chromium: present ($("$BROWSER" --version 2>/dev/null || echo "$BROWSER"))"
    exit 0
fi

fail() {
    echo "error: chromium, which the browser tests need, is not installed, and $1" >&2
    exit 1
}

command -v apt-get >/dev/null ||
    fail "this system has no apt-get: install chromium so that $BROWSER runs, then rerun"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    how="run 'sudo apt-get install chromium' once, then rerun"
    command -v sudo >/dev/null || fail "installing it needs root (there is no sudo): $how"
    sudo -n true 2>/dev/null || fail "installing it needs root (sudo wants a password): $how"
    SUDO=(sudo -n)
fi

LOG=$(mktemp -t wbl-chromium-install.XXXXXX)
echo "chromium: installing Debian's package with apt-get, once (log: $LOG)"
export DEBIAN_FRONTEND=noninteractive
# Waits for a concurrent apt-get (another clone installing it too) instead of failing.
APT=("${SUDO[@]}" apt-get -q -o DPkg::Lock::Timeout=600)
install() {
    "${APT[@]}" install -y --no-install-recommends chromium fonts-dejavu-core >>"$LOG" 2>&1
}
if ! install; then  # stale or missing package lists: refresh them once, then try again
    "${APT[@]}" update >>"$LOG" 2>&1 || fail "apt-get update failed (read $LOG)"
    install || fail "apt-get install failed: $(grep -m1 '^E:' "$LOG" || tail -n1 "$LOG") (read $LOG)"
fi
echo "chromium: installed ($("$BROWSER" --version 2>/dev/null || echo "$BROWSER"))"
