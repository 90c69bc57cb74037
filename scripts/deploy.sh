#!/usr/bin/env bash
# `make deploy`: the shared stack in the home Region, then the regional stack in every enabled
# Region (scripts/deploy-regions.sh). Needs the SAM CLI, AWS credentials of the account that
# owns the Identity Center instance and its key, and `make package` first. See docs/deploy.md.
#   CONFIG=prod.toml [HOME_REGION=...] [REGIONS="r1 r2"] [MODE=notify] [ARCH=...] scripts/deploy.sh [all|shared|regions]
set -euo pipefail
source "$(dirname "$0")/deploy-common.sh"

what="${1:-all}"
case "$what" in all|shared|regions) ;; *) die "usage: $0 [all|shared|regions]" ;; esac

if [ "$what" != regions ]; then
  echo "== shared stack $STACK_PREFIX-shared in $HOME_REGION"
  sam_deploy shared.yaml "$STACK_PREFIX-shared" "$HOME_REGION" "$params_dir/shared.yaml"
fi
if [ "$what" != shared ]; then
  bash "$root/scripts/deploy-regions.sh"
fi

echo
echo "Guard roles (remediation.guard_role_arns must list all of them before MODE=remediate):"
for r in $REGIONS; do
  for g in key-policy-guard region-guard; do
    echo "  \"arn:$PARTITION:iam::$ACCOUNT:role/idc-guard-$g-$r\","
  done
done
if [ "$what" != regions ]; then
  echo "Slack: set the webhook URL once (docs/deploy.md): aws secretsmanager put-secret-value --region $HOME_REGION --secret-id ${SLACK_SECRET_NAME:-idc-guard/slack-webhook} --secret-string file://webhook-url.txt"
fi
