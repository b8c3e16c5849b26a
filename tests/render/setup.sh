#!/usr/bin/env bash
# What tests/test_teams_render.py needs: Debian's headless Chromium and the Adaptive Cards
# renderer from the npm registry (pinned in package-lock.json). Run by .ci/run; run it yourself
# once to render the cards locally (the test is skipped without them, outside CI).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v chromium-headless-shell >/dev/null && ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell fonts-liberation
    else
        echo "tests/render/setup.sh: install chromium-headless-shell (Debian) to render the cards" >&2
    fi
fi
if command -v npm >/dev/null; then
    npm ci --no-audit --no-fund --silent
else
    echo "tests/render/setup.sh: npm not found: install Node.js and npm to render the cards" >&2
fi
