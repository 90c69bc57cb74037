#!/usr/bin/env bash
# Tools for the deployable stack (infra/), installed into the project's .venv (the same venv
# scripts/local-aws.sh makes for moto; an existing one is added to, never recreated).
#   scripts/infra-tools.sh lint       cfn-lint + aws-sam-translator (pinned), and cfn-guard
#   scripts/infra-tools.sh package    cargo-lambda (pinned; brings zig)
#   scripts/infra-tools.sh all        both
#   scripts/infra-tools.sh sam        the AWS SAM CLI for `make deploy`, into its own .venv-sam
# Every step is idempotent: a requirements file already installed (its copy in .venv matches)
# is skipped, and cfn-guard is built only when no cfn-guard 3 is on PATH or in ~/.cargo/bin.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
CFN_GUARD_VERSION=3.2.1

ensure_venv() {
  if [ -x "$venv/bin/python" ]; then
    return 0
  fi
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    echo "python3 venv support missing: installing python3-venv (Debian)" >&2
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  fi
  python3 -m venv "$venv"
}

# pip_install NAME: installs scripts/requirements-NAME.txt into .venv unless already done.
pip_install() {
  local requirements="$root/scripts/requirements-$1.txt"
  local stamp="$venv/.requirements-$1"
  if cmp -s "$requirements" "$stamp" 2>/dev/null; then
    return 0
  fi
  ensure_venv
  echo "installing $(basename "$requirements") into .venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
}

sam_cli() {
  local venv_sam="$root/.venv-sam" requirements="$root/scripts/requirements-infra-deploy.txt"
  if [ -x "$venv_sam/bin/sam" ] && cmp -s "$requirements" "$venv_sam/.requirements" 2>/dev/null; then
    return 0
  fi
  python3 -m venv "$venv_sam"
  echo "installing $(basename "$requirements") into .venv-sam" >&2
  "$venv_sam/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv_sam/.requirements"
}

cfn_guard() {
  local existing
  existing="$(command -v cfn-guard || true)"
  [ -n "$existing" ] || existing="${CARGO_HOME:-$HOME/.cargo}/bin/cfn-guard"
  # The rules use cfn-guard 3 syntax (parameterized rules); an older one is replaced.
  if [ -x "$existing" ] && "$existing" --version 2>/dev/null | grep -q ' 3\.'; then
    return 0
  fi
  echo "cfn-guard 3 missing: building $CFN_GUARD_VERSION from crates.io (a few minutes on 2 cores)" >&2
  cargo install cfn-guard --locked --version "$CFN_GUARD_VERSION"
}

case "${1:-}" in
  lint) pip_install infra-lint; cfn_guard ;;
  package) pip_install infra-package ;;
  all) pip_install infra-lint; pip_install infra-package; cfn_guard ;;
  sam) sam_cli ;;
  *) echo "usage: $0 lint | package | all | sam" >&2; exit 2 ;;
esac
