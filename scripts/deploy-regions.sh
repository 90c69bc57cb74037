#!/usr/bin/env bash
# The regional stack (infra/regional.yaml) in every enabled Identity Center Region, one
# `sam deploy` per Region, the home Region first. A scripted loop rather than a StackSet:
# Lambda code must be in an S3 bucket of the function's own Region, and `sam deploy
# --resolve-s3` uploads it to a per-Region bucket on the way (docs/deploy.md explains).
#   CONFIG=prod.toml [REGIONS="r1 r2"] [DEPLOY_REGIONS="r2"] [MODE=...] scripts/deploy-regions.sh
# REGIONS is every enabled Region (default: the configuration's `regions`), used for the checks
# (primary Region present, guard_role_arns complete); DEPLOY_REGIONS, a subset of it, limits
# this run to some of them (a retry). A failing Region does not stop the others; the script
# exits 1 naming them at the end.
set -euo pipefail
source "$(dirname "$0")/deploy-common.sh"

targets="${DEPLOY_REGIONS:-$REGIONS}"
for r in $targets; do
  case " $REGIONS " in *" $r "*) ;; *) die "DEPLOY_REGIONS: $r is not one of REGIONS ($REGIONS)" ;; esac
done
ordered="$HOME_REGION"
for r in $targets; do
  [ "$r" = "$HOME_REGION" ] || ordered="$ordered $r"
done
failed=""
for r in $ordered; do
  case " $targets " in *" $r "*) ;; *) continue ;; esac
  echo "== regional stack $STACK_PREFIX-regional in $r"
  if ! sam_deploy regional.yaml "$STACK_PREFIX-regional" "$r" "$params_dir/regional-$r.yaml"; then
    echo "deploy: the regional stack failed in $r" >&2
    failed="$failed $r"
  fi
done
[ -z "$failed" ] || die "the regional stack failed in:$failed (fix, then: make deploy-regions CONFIG=$CONFIG DEPLOY_REGIONS=\"${failed# }\")"
