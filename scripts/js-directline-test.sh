#!/usr/bin/env bash
# Proves the emulator speaks real Direct Line 3.0: runs Microsoft's DirectLineJS client (polling
# mode) from tests-js/ against the emulator example binary serving the demo agent.
#
# Usage: scripts/js-directline-test.sh   (needs cargo, node >= 20 and npm)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
secret="emulator-secret-not-real"

if [ ! -d tests-js/node_modules/botframework-directlinejs ]; then
  echo "installing the JS test dependencies (pinned in tests-js/package-lock.json)"
  (cd tests-js && npm ci --no-audit --no-fund)
fi

cargo build --quiet -p gcbridge-emulator --example serve
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')}"
bin="$target_dir/debug/examples/serve"

log="$(mktemp)"
# Port 0: the OS picks a free loopback port and the emulator prints its URL once it accepts
# connections, so there is no race on choosing a port.
"$bin" --port 0 --script config/demo-agent.toml --secret "$secret" >"$log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

url=""
for _ in $(seq 1 100); do # at most ~10 s
  url="$(sed -n 's/^listening on //p' "$log")"
  [ -n "$url" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$log" >&2
    echo "FAIL: the emulator exited before it was ready" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  cat "$log" >&2
  echo "FAIL: the emulator was not ready within 10 s" >&2
  exit 1
fi

echo "emulator ready at $url (pid $pid)"
node tests-js/directline-polling.test.js "$url" "$secret"
