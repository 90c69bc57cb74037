#!/usr/bin/env bash
# `make lint-infra`: the deployable stack, checked offline.
#   1. cfn-lint on every template as written (infra/*.yaml);
#   2. each template expanded by aws-sam-translator (scripts/sam-expand.py) and cfn-lint on the
#      expanded CloudFormation: cfn-lint >= 1.54 no longer expands SAM, so a typo inside an
#      AWS::Serverless::Function is only caught here;
#   3. cfn-guard with infra/rules/*.guard on the expanded templates, and each rule against its
#      failing fixtures in infra/rules/tests/ (scripts/check-guard-rules.py);
#   4. every function `make package` builds is deployed by a template, and vice versa.
# Tools: scripts/infra-tools.sh lint (the Makefile runs it first).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$root/.venv"
out="target/infra"
FUNCTIONS="${FUNCTIONS:-key-policy-guard region-guard idp-guard drift-sweeper notifier evidence-collector securityhub-exporter}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

cfn_guard="$(command -v cfn-guard || true)"
[ -n "$cfn_guard" ] || cfn_guard="${CARGO_HOME:-$HOME/.cargo}/bin/cfn-guard"
[ -x "$cfn_guard" ] || { echo "lint-infra: cfn-guard missing: run scripts/infra-tools.sh lint" >&2; exit 1; }

templates=(infra/*.yaml)
mkdir -p "$out"
rm -f "$out"/*.json

echo "== cfn-lint $("$venv/bin/cfn-lint" --version 2>&1 | awk '{print $NF}') on ${templates[*]}"
"$venv/bin/cfn-lint" "${templates[@]}"

echo "== SAM expansion (aws-sam-translator), then cfn-lint on the expanded templates"
expanded=()
for t in "${templates[@]}"; do
  e="$out/$(basename "$t" .yaml).json"
  "$venv/bin/python" scripts/sam-expand.py "$t" "$e"
  expanded+=("$e")
done
"$venv/bin/cfn-lint" "${expanded[@]}"

echo "== cfn-guard $("$cfn_guard" --version | awk '{print $NF}'): infra/rules on the expanded templates, each rule on its failing fixtures"
python3 scripts/check-guard-rules.py "$cfn_guard" infra/rules infra/rules/tests "${expanded[@]}"

echo "== packaged functions <-> templates"
deployed="$(grep -ho 'CodeUri: \.\./target/lambda/[a-z0-9-]*\.zip' "${templates[@]}" | sed 's|.*/||; s|\.zip$||' | sort -u)"
expected="$(printf '%s\n' $FUNCTIONS | sort -u)"
if [ "$deployed" != "$expected" ]; then
  echo "lint-infra: make package builds [$(echo $expected)] but the templates deploy [$(echo $deployed)]" >&2
  exit 1
fi
echo "all $(echo "$expected" | wc -l) packaged functions are deployed: $(echo $expected)"
echo "lint-infra: OK"
