#!/usr/bin/env bash
# make fuzz: every cargo-fuzz target for FUZZ_SECONDS each (default 60), one after another.
# Corpora live in fuzz/corpus/<target> (not committed) and start from the seeds: the key-policy
# fixtures and examples, the SAML fixtures, the example configuration and fuzz/seeds/.
# A crash stops the run; its input lands in fuzz/artifacts/<target>/. Copy it to
# fuzz/regressions/<target>/ once fixed: tests/tests/fuzz_regressions.rs replays that folder.
# Needs the nightly toolchain (libFuzzer's instrumentation) and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(key_policy cloudtrail_event cloudtrail_records evidence_digest finding_message saml_metadata config idp_responses)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal

seed() { # target, files...
  local dir="fuzz/corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -e "$f" ] && cp -n "$f" "$dir/" ; done
}
mkdir -p fuzz/corpus/key_policy
# A key-policy input is one selector byte (which configuration) and the policy text.
python3 - <<'PY'
import json, glob, os
out = "fuzz/corpus/key_policy"
sources = sorted(glob.glob("tests/fixtures/key-policy/*.json"))
for path in sources:
    doc = json.load(open(path))
    policy = doc.get("policy")
    text = policy if isinstance(policy, str) else json.dumps(policy)
    for sel in (0, 1):
        name = f"{out}/seed-{sel}-{os.path.basename(path)}"
        with open(name, "wb") as f:
            f.write(bytes([sel]) + text.encode())
for path in glob.glob("examples/*.json"):
    with open(f"{out}/seed-0-example-{os.path.basename(path)}", "wb") as f:
        f.write(b"\0" + open(path, "rb").read())
PY
seed cloudtrail_event fuzz/seeds/cloudtrail_event/*
seed cloudtrail_records fuzz/seeds/cloudtrail_records/* tests/fixtures/events/*.json
seed evidence_digest fuzz/seeds/evidence_digest/*
seed finding_message fuzz/seeds/finding_message/*
seed saml_metadata shared/tests/fixtures/saml/*.xml
seed config examples/config.toml
seed idp_responses fuzz/seeds/idp_responses/*

for t in "${targets[@]}"; do
  [ -d "fuzz/regressions/$t" ] && seed "$t" fuzz/regressions/"$t"/*
  echo "== fuzz $t for ${seconds}s"
  # -max_len bounds one input: key policies stay under KMS's 32 KB, events under EventBridge's 256 KB.
  case "$t" in
    key_policy) max_len=8192 ;;
    *) max_len=16384 ;;
  esac
  # The code under test forbids unsafe, so no sanitizer: coverage alone, several times the
  # executions per second.
  (cd fuzz && cargo +nightly fuzz run -O --sanitizer none "$t" "corpus/$t" -- \
      -max_total_time="$seconds" -max_len="$max_len" -print_final_stats=1)
done
