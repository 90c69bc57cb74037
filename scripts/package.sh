#!/usr/bin/env bash
# `make package`: release builds of every Lambda with cargo-lambda, one zip per function.
#   scripts/package.sh ARCH FUNCTION...        ARCH: x86_64 (default in the Makefile) | arm64
# Output: target/lambda/<function>/bootstrap (cargo-lambda) and target/lambda/<function>.zip
# (what infra/*.yaml deploy), plus target/lambda/.arch (checked by `make deploy`).
# cargo-lambda (PyPI, with zig) goes into .venv via scripts/infra-tools.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[ "$#" -ge 2 ] || { echo "usage: $0 x86_64|arm64 FUNCTION..." >&2; exit 2; }
arch="$1"; shift

case "$arch" in
  x86_64) flag=--x86-64; target=x86_64-unknown-linux-gnu ;;
  arm64)  flag=--arm64;  target=aarch64-unknown-linux-gnu ;;
  *) echo "package: ARCH=$arch is not x86_64 or arm64" >&2; exit 2 ;;
esac
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "package: the Rust standard library for $target is not installed." >&2
  echo "         Run 'rustup target add $target' (it comes from the Rust toolchain server, not" >&2
  echo "         a package registry), or package for the other architecture (ARCH=x86_64)." >&2
  exit 1
fi

bash scripts/infra-tools.sh package
bins=()
for f in "$@"; do bins+=(--bin "$f"); done
# cargo-lambda finds zig through the venv's python (`python -m ziglang`), hence the PATH.
PATH="$root/.venv/bin:$PATH" cargo lambda build --release --locked "$flag" "${bins[@]}"

python3 scripts/zip-lambdas.py target/lambda "$@"
echo "$arch" > target/lambda/.arch
