# idc-guard developer tasks. Every target works offline on a machine with the Rust toolchain
# and cargo-nextest; `.ci/run` installs anything else.
CARGO ?= cargo
PROFILE ?= ci

.PHONY: build test lint fmt bench demo clean

build:
	$(CARGO) build --workspace --locked

# The README's test command: unit, property, fixture, snapshot and CLI tests.
test:
	$(CARGO) nextest run --workspace --locked --profile $(PROFILE)

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

# Criterion benchmarks (medians in target/criterion/*/new/estimates.json).
bench:
	$(CARGO) bench -p idc-guard-core --bench check_policy

# Until the full local-emulator demo exists: the CLI on the bundled example.
demo:
	bash scripts/demo-offline.sh

clean:
	$(CARGO) clean
