#!/usr/bin/env bash
# Real-browser test of the agent's side (tests-browser/browser.test.js): Debian's headless
# Chromium, driven by playwright-core, loads gcbridge's /widget page for a conversation played
# through `gcbridge demo` (greeting, card, handoff) and checks what is on it, then runs
# Microsoft's Web Chat (botframework-webchat, served locally) against the emulator with a token
# from /webchat/token, and the Genesys sign-in mode against a local login/Platform API stand-in.
# Screenshots: <cargo target dir>/widget-screenshot.png, webchat-screenshot.png and
# widget-genesys-screenshot.png.
#
# Usage: scripts/browser-test.sh [install]   (install: Chromium and the npm packages only)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

install() {
  if [ ! -x /usr/bin/chromium ]; then
    echo "installing Debian's chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -d tests-browser/node_modules/playwright-core ] ||
    [ ! -d tests-browser/node_modules/botframework-webchat ]; then
    echo "installing the browser test's npm packages (pinned in tests-browser/package-lock.json)"
    (cd tests-browser && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

install
if [ "${1:-}" = "install" ]; then
  exit 0
fi

cargo build --quiet -p gcbridge
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')}"

node tests-browser/browser.test.js "$target_dir/debug/gcbridge" "$target_dir"
