#!/usr/bin/env bash
# Real session-store servers for the store conformance tests: Redis, a DynamoDB-compatible
# server (moto) and Azurite (Azure Table Storage), each on a free loopback port.
#
# Usage: scripts/backends.sh install   install the servers (idempotent; needs root for apt)
#        scripts/backends.sh start     install, start all three, wait until each answers, print
#                                      their versions and write the test variables to the env file
#        scripts/backends.sh stop      stop the servers this script started (by PID)
#        scripts/backends.sh env       print the path of the env file (source it before `cargo test`)
#
# State (PID files, logs, a throw-away TLS CA, the env file) lives in $GCBRIDGE_BACKENDS_DIR, by
# default target/backends. The env file sets GCBRIDGE_TEST_REDIS_URL (with a password),
# GCBRIDGE_TEST_REDIS_TLS_URL and GCBRIDGE_TEST_REDIS_TLS_CA (the same Redis on a TLS port, and
# the CA that signed its certificate), GCBRIDGE_TEST_DYNAMODB_ENDPOINT,
# GCBRIDGE_TEST_AZURITE_ENDPOINT and dummy AWS credentials for the local DynamoDB server.
#
# Why these servers: Debian's redis-server is the real thing; moto supports DynamoDB's TTL and
# transactions, and its conditional-write errors match DynamoDB's (dynalite has no
# UpdateTimeToLive); Azurite is Microsoft's emulator and checks Shared Key signatures. Azurite
# 3.36+ needs Node 21+, so 3.35.0 is pinned (scripts/servers/package-lock.json). Every server
# binary is started directly, never through npx, so `$!` is the server's own PID.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
servers="$root/scripts/servers"
state="${GCBRIDGE_BACKENDS_DIR:-$root/target/backends}"
env_file="$state/env"
moto_version="5.2.5"

log() { printf 'backends: %s\n' "$*" >&2; }
die() { printf 'backends: FAIL: %s\n' "$*" >&2; exit 1; }

install() {
  local tool missing=()
  for tool in redis-server openssl curl; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (Debian packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ! -x "$servers/node_modules/.bin/azurite-table" ]; then
    log "installing azurite (pinned in scripts/servers/package-lock.json)"
    (cd "$servers" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if ! "$servers/.venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
    log "installing moto[server]==$moto_version in scripts/servers/.venv"
    python3 -m venv "$servers/.venv"
    "$servers/.venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$moto_version"
  fi
}

# A port on 127.0.0.1 that is free right now. The server binds it a moment later; if another
# process takes it in between, the server exits and wait_ready reports that.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# A CA and a certificate for 127.0.0.1 signed by it, valid for a day: the Redis TLS port's.
make_tls() {
  local dir="$state/tls"
  rm -rf "$dir" && mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=gcbridge test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >"$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 1 -extfile "$dir/san.ext" -out "$dir/server.pem" 2>/dev/null
}

# Polls `check` until it succeeds, the server exits, or about 30 s have passed.
wait_ready() {
  local name=$1 pid=$2 check=$3 started=$4
  for _ in $(seq 1 300); do
    if eval "$check" >/dev/null 2>&1; then
      local now; now=$(date +%s.%N)
      log "$name ready in $(awk "BEGIN { printf \"%.2f\", $now - $started }") s (pid $pid)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -20 "$state/$name.log" >&2 || true
      die "$name exited before it was ready (log above)"
    fi
    sleep 0.1
  done
  tail -20 "$state/$name.log" >&2 || true
  die "$name was not ready within 30 s"
}

start_one() {
  local name=$1; shift
  "$@" >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

start() {
  install
  stop_quietly
  mkdir -p "$state"
  local t redis_port redis_tls_port dynamo_port azurite_port
  # A password proves that the URL's credentials reach the server; it guards nothing.
  local redis_password="gcbridge-test-password"
  make_tls

  # All three start at once and are then waited for, so the slowest sets the start-up time.
  redis_port=$(free_port)
  redis_tls_port=$(free_port)
  dynamo_port=$(free_port)
  azurite_port=$(free_port)
  t=$(date +%s.%N)
  start_one redis redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    --dir "$state" --requirepass "$redis_password" \
    --tls-port "$redis_tls_port" --tls-cert-file "$state/tls/server.pem" \
    --tls-key-file "$state/tls/server.key" --tls-ca-cert-file "$state/tls/ca.pem" \
    --tls-auth-clients no
  # One request at a time: threaded moto can let two conditional writes both pass (see the file).
  start_one moto "$servers/.venv/bin/python" "$servers/moto_serial.py" 127.0.0.1 "$dynamo_port"
  start_one azurite "$servers/node_modules/.bin/azurite-table" --tableHost 127.0.0.1 \
    --tablePort "$azurite_port" --inMemoryPersistence --disableTelemetry --silent
  wait_ready redis "$(cat "$state/redis.pid")" "redis-cli -h 127.0.0.1 -p $redis_port -a $redis_password --no-auth-warning ping | grep -q PONG" "$t"
  wait_ready moto "$(cat "$state/moto.pid")" "curl -sf -o /dev/null http://127.0.0.1:$dynamo_port/moto-api/" "$t"
  # Any HTTP answer (Azurite answers an unsigned request with an error) means it is listening.
  wait_ready azurite "$(cat "$state/azurite.pid")" "curl -s -o /dev/null http://127.0.0.1:$azurite_port/devstoreaccount1/Tables" "$t"

  log "versions: $(redis-server --version | awk '{print $1, $2, $3}'); moto $("$servers/.venv/bin/python" -c 'import moto; print(moto.__version__)'); azurite $(node -p "require('$servers/node_modules/azurite/package.json').version") on node $(node --version)"

  cat >"$env_file" <<EOF
# Written by scripts/backends.sh start; source it before running the store tests.
export GCBRIDGE_TEST_REDIS_URL=redis://:$redis_password@127.0.0.1:$redis_port
export GCBRIDGE_TEST_REDIS_TLS_URL=rediss://:$redis_password@127.0.0.1:$redis_tls_port
export GCBRIDGE_TEST_REDIS_TLS_CA=$state/tls/ca.pem
export GCBRIDGE_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$dynamo_port
export GCBRIDGE_TEST_AZURITE_ENDPOINT=http://127.0.0.1:$azurite_port/devstoreaccount1
# The local DynamoDB server accepts any credentials; these keep the AWS SDK's credential chain
# from looking further (profiles, instance metadata).
export AWS_ACCESS_KEY_ID=dummy
export AWS_SECRET_ACCESS_KEY=dummy
export AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
EOF
  log "env file: $env_file"
}

# Stops every server whose PID file is in $state, by that PID only.
stop_quietly() {
  local pidfile pid
  for pidfile in "$state"/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      log "stopped $(basename "$pidfile" .pid) (pid $pid)"
    fi
    rm -f "$pidfile"
  done
  rm -f "$env_file"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_quietly ;;
  env) echo "$env_file" ;;
  *) die "usage: $0 install|start|stop|env" ;;
esac
