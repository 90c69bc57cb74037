#!/usr/bin/env bash
# Offline demo: idc-guard's policy engine on the bundled example organization.
# The full demo (local AWS server, Identity Center emulator, Lambdas, Slack receiver) replaces
# this once the guards exist; it will play drift scenarios end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p idc-guard --locked
bin=target/debug/idc-guard
cfg=examples/config.toml
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }
expect() { # expect CODE command...
  local want=$1; shift
  set +e; "$@"; local got=$?; set -e
  if [ "$got" != "$want" ]; then echo "demo: expected exit $want, got $got: $*" >&2; exit 1; fi
}

step "The model key policy for the example organization (3 Regions)" "$bin render-policy --config $cfg"
expect 0 "$bin" render-policy --config "$cfg"

step "The AWS baseline passes every check in every Region" "$bin check-policy --config $cfg examples/baseline-policy.json"
expect 0 "$bin" check-policy --config "$cfg" examples/baseline-policy.json

step "Drift: kms:ViaService pinned to us-east-1 breaks the other Regions" "$bin check-policy --config $cfg examples/drifted-policy.json"
expect 1 "$bin" check-policy --config "$cfg" examples/drifted-policy.json

step "Drift: a public Decrypt statement" "$bin check-policy --config $cfg --format json examples/public-decrypt-policy.json"
expect 1 "$bin" check-policy --config "$cfg" --format json examples/public-decrypt-policy.json

step "Why: simulate an outsider's Decrypt" "$bin simulate --config $cfg examples/public-decrypt-policy.json --principal arn:aws:iam::999999999999:role/Attacker --action kms:Decrypt"
expect 0 "$bin" simulate --config "$cfg" examples/public-decrypt-policy.json --principal arn:aws:iam::999999999999:role/Attacker --action kms:Decrypt

step "What the external IdP must know: ACS and portal URLs per Region" "$bin acs-urls --config $cfg"
expect 0 "$bin" acs-urls --config "$cfg"

printf '\nDemo finished: every step ended as expected.\n'
