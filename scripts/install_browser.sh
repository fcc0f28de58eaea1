#!/usr/bin/env bash
# Install Debian's chromium for the Playwright dashboard tests (browsers cannot be downloaded
# by Playwright here). Idempotent and quiet: does nothing when /usr/bin/chromium exists.
# Needs root (or passwordless sudo) only when chromium is missing.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "install_browser.sh: $CHROMIUM is missing and this user cannot install packages (not root, no sudo)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
# apt and debconf talk on stderr even when all is well: keep their output for failures only.
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium; } >"$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "install_browser.sh: installing chromium failed" >&2
    exit 1
fi

if [ ! -x "$CHROMIUM" ]; then
    echo "install_browser.sh: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
