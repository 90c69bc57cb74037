# idc-guard developer tasks. Every target works offline on a machine with the Rust toolchain
# and cargo-nextest; `.ci/run` installs anything else.
CARGO ?= cargo
PROFILE ?= ci

.PHONY: build test lint fmt bench bench-lambda demo clean local-aws

build:
	$(CARGO) build --workspace --locked

# The README's test command: unit, property, fixture, snapshot, CLI and integration tests;
# the integration tests talk to a moto server started (and stopped) around the run.
test:
	bash scripts/local-aws.sh run $(CARGO) nextest run --workspace --locked --profile $(PROFILE)

# Installs the local AWS server (moto) into .venv.
local-aws:
	bash scripts/local-aws.sh install

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

# Criterion benchmarks (medians in target/criterion/*/new/estimates.json).
bench:
	$(CARGO) bench -p idc-guard-core --bench check_policy

# The key-policy-guard release binary behind a local Lambda Runtime API against moto: cold
# start, peak RSS, warm latency (median / p99 over 200 events).
bench-lambda:
	$(CARGO) build --release --locked -p key-policy-guard
	bash scripts/local-aws.sh run $(CARGO) bench --locked -p idc-guard-tests --bench lambda

# Until the full local-emulator demo exists: the CLI on the bundled example.
demo:
	bash scripts/demo-offline.sh

clean:
	$(CARGO) clean
