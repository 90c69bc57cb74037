# Sourced by scripts/deploy.sh and scripts/deploy-regions.sh: finds the SAM CLI, checks the
# packaged code, and writes the parameter files (scripts/deploy-params.py) from CONFIG.
# Sets: root, sam, params_dir, HOME_REGION, REGIONS, PARTITION, ACCOUNT, STACK_PREFIX.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUNCTIONS="${FUNCTIONS:-key-policy-guard region-guard idp-guard drift-sweeper notifier evidence-collector securityhub-exporter}"
STACK_PREFIX="${STACK_PREFIX:-idc-guard}"
params_dir="$root/target/infra/deploy"

die() { echo "deploy: $*" >&2; exit 1; }

# The SAM CLI: on PATH, or in .venv-sam (scripts/infra-tools.sh sam). Parameter files
# (--parameter-overrides file://...) need a recent one; 1.170.0 is what this was checked with.
if command -v sam >/dev/null 2>&1; then
  sam="$(command -v sam)"
elif [ -x "$root/.venv-sam/bin/sam" ]; then
  sam="$root/.venv-sam/bin/sam"
else
  die "the AWS SAM CLI (sam) is not installed: run 'bash scripts/infra-tools.sh sam' (puts aws-sam-cli into .venv-sam) or install it yourself, then retry"
fi

[ -n "${CONFIG:-}" ] || die "set CONFIG to the idc-guard configuration file, e.g. make deploy CONFIG=prod.toml (docs/deploy.md)"
[ -r "$CONFIG" ] || die "CONFIG=$CONFIG: no such readable file"

# What `make package` built, and for which architecture.
built_arch="$(cat "$root/target/lambda/.arch" 2>/dev/null || true)"
ARCH="${ARCH:-$built_arch}"
for f in $FUNCTIONS; do
  [ -s "$root/target/lambda/$f.zip" ] || die "target/lambda/$f.zip is missing: run 'make package ARCH=${ARCH:-x86_64}' first"
done
[ "$ARCH" = "$built_arch" ] || die "ARCH=$ARCH but target/lambda/ was packaged for '${built_arch:-unknown}': run 'make package ARCH=$ARCH' (or deploy with ARCH=$built_arch)"
export ARCH

assignments="$(python3 "$root/scripts/deploy-params.py" "$CONFIG" "$params_dir")" || die "fix the problems above"
eval "$assignments"
export HOME_REGION REGIONS

# sam_deploy TEMPLATE STACK REGION PARAMS_FILE
sam_deploy() {
  "$sam" deploy \
    --template-file "$root/infra/$1" \
    --stack-name "$2" \
    --region "$3" \
    --resolve-s3 \
    --s3-prefix "$STACK_PREFIX" \
    --capabilities CAPABILITY_NAMED_IAM \
    --no-fail-on-empty-changeset \
    --parameter-overrides "file://$4" \
    --tags "project=idc-guard"
}
