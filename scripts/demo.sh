#!/usr/bin/env bash
# `make demo`: the whole guardrail running locally from a fresh clone, no AWS account.
#   scripts/demo.sh [--mode remediate|notify|dry-run] [--release]
# Installs moto into .venv, builds the Lambda binaries and the demo driver, reads infra/'s
# EventBridge patterns, then runs idc-demo: moto, the Identity Center
# emulator, a Slack receiver and every function behind a local Runtime API, all on loopback
# (free ports), all stopped at the end, on failure and on Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mode=remediate
profile=debug
while [ "$#" -gt 0 ]; do
  case "$1" in
    --mode) mode="${2:-}"; shift 2 ;;
    --mode=*) mode="${1#--mode=}"; shift ;;
    --release) profile=release; shift ;;
    # The default; kept so older invocations still work.
    --debug) profile=debug; shift ;;
    *) echo "usage: $0 [--mode remediate|notify|dry-run] [--release]" >&2; exit 2 ;;
  esac
done
case "$mode" in dry-run|notify|remediate) ;; *) echo "demo: --mode $mode is not dry-run, notify or remediate" >&2; exit 2 ;; esac

bash scripts/local-aws.sh install
functions=(key-policy-guard region-guard idp-guard drift-sweeper notifier evidence-collector securityhub-exporter)
packages=()
for f in "${functions[@]}"; do packages+=(-p "$f"); done
if [ "$profile" = release ]; then
  echo "== building the Lambda binaries and the demo driver (release, LTO): on 2 cores this takes over 10 minutes from a fresh clone" >&2
  cargo build --locked --release "${packages[@]}" -p idc-guard-tests --bins
else
  # The same build as `make test` (the dev profile, every binary and test target, one feature
  # resolution), so the README's second command finds everything built.
  echo "== building every binary and test once, shared with 'make test' (dev profile; the first build on 2 cores takes several minutes, later ones seconds)" >&2
  cargo build --locked --workspace --bins --tests
fi

mkdir -p target/demo
# The same routing as the deployed stack: the patterns are read from infra/*.yaml.
.venv/bin/python scripts/event-patterns.py infra/regional.yaml infra/shared.yaml > target/demo/routes.json
export IDC_GUARD_MOTO_SERVER="$root/.venv/bin/moto_server"
exec "target/$profile/idc-demo" --mode "$mode" --bin-dir "target/$profile" \
  --routes target/demo/routes.json --logs target/demo/logs
