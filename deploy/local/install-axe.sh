#!/usr/bin/env bash
# Installs axe-core (the accessibility engine the browser tests run in each page) from npm
# into the cache, once: `make browser` runs this. Usage: install-axe.sh CACHE_DIR.
# Quick when present; one clear line on stderr when npm is missing or cannot reach the registry.
set -euo pipefail

VERSION=4.14.1
DIR="$1/axe-core-$VERSION"
AXE="$DIR/node_modules/axe-core/axe.min.js"

if [ -f "$AXE" ]; then
    echo "axe-core: present ($AXE)"
    exit 0
fi
command -v npm >/dev/null || { echo "error: npm is needed to install axe-core $VERSION for the browser tests" >&2; exit 1; }
mkdir -p "$DIR"
npm install --silent --no-audit --no-fund --prefix "$DIR" "axe-core@$VERSION" ||
    { echo "error: npm could not install axe-core $VERSION into $DIR" >&2; exit 1; }
echo "axe-core: installed ($AXE)"
