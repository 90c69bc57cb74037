# idc-guard developer tasks. Every target works offline on a machine with the Rust toolchain
# and cargo-nextest; `.ci/run` installs anything else.
CARGO ?= cargo
PROFILE ?= ci

.PHONY: build test lint deny fmt bench bench-lambda fuzz demo demo-offline clean local-aws

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

# Licenses, banned crates and sources of every dependency (deny.toml). Advisories need a
# network database and are not checked here.
deny:
	$(CARGO) deny --offline check licenses bans sources

fmt:
	$(CARGO) fmt --all

# Criterion benchmarks (medians in target/criterion/*/new/estimates.json), then every
# function's release binary behind a local Runtime API against moto and the Identity Center
# emulator: a cold-start table (init, first invocation, peak RSS) and each guard's end-to-end
# latency over 200 events.
bench:
	$(CARGO) bench -p idc-guard-core --bench check_policy
	$(CARGO) build --release --locked $(foreach f,$(FUNCTIONS),-p $(f)) -p idc-guard-tests --bins
	bash scripts/local-aws.sh run $(CARGO) bench --locked -p idc-guard-tests --bench functions

# The key-policy-guard release binary behind a local Lambda Runtime API against moto: cold
# start, peak RSS, warm latency (median / p99 over 200 events).
# Every cargo-fuzz target for FUZZ_SECONDS each (default 60; the figures in
# docs/reliability.md are 600 s runs). Needs nightly; installs cargo-fuzz if missing.
# One target: make fuzz FUZZ_TARGETS=key_policy
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh $(FUZZ_TARGETS)

bench-lambda:
	$(CARGO) build --release --locked -p key-policy-guard
	bash scripts/local-aws.sh run $(CARGO) bench --locked -p idc-guard-tests --bench lambda

# The README's first command: the whole guardrail locally (moto, the Identity Center emulator,
# a Slack receiver, every Lambda behind a local Runtime API, infra/'s event patterns), playing
# drift scenarios; exit 0 only if every scenario ends as expected. Built in the dev profile
# with every test target, so `make test` afterwards reuses the build (DEMO_FLAGS=--release for
# the release binaries).
MODE ?= remediate
DEMO_FLAGS ?=
demo:
	bash scripts/demo.sh --mode $(MODE) $(DEMO_FLAGS)

# The policy engine alone on the bundled example (no servers).
demo-offline:
	bash scripts/demo-offline.sh

clean:
	$(CARGO) clean

# --- The deployable stack: infra/ (SAM), docs/deploy.md --------------------------------------
# Every Lambda binary; the templates in infra/ deploy exactly these (lint-infra checks it).
FUNCTIONS := key-policy-guard region-guard idp-guard drift-sweeper notifier evidence-collector securityhub-exporter
# x86_64 builds on any host; arm64 needs `rustup target add aarch64-unknown-linux-gnu` first.
ARCH ?= x86_64

.PHONY: package deploy deploy-shared deploy-regions lint-infra infra-tools

# Installs cfn-lint, aws-sam-translator and cargo-lambda into .venv, and cfn-guard.
infra-tools:
	bash scripts/infra-tools.sh all

# cargo lambda build --release for ARCH, then target/lambda/<function>.zip for each function.
package:
	bash scripts/package.sh $(ARCH) $(FUNCTIONS)

# The shared stack in the home Region, then the regional stack in every enabled Region.
# Needs the SAM CLI (scripts/infra-tools.sh sam), AWS credentials and CONFIG=<config.toml>;
# docs/deploy.md lists the other settings. The architecture is what `make package` built,
# unless ARCH is given (then the two must agree).
DEPLOY_ARCH = $(if $(filter file,$(origin ARCH)),,ARCH=$(ARCH))

deploy:
	$(DEPLOY_ARCH) FUNCTIONS="$(FUNCTIONS)" bash scripts/deploy.sh all

deploy-shared:
	$(DEPLOY_ARCH) FUNCTIONS="$(FUNCTIONS)" bash scripts/deploy.sh shared

deploy-regions:
	$(DEPLOY_ARCH) FUNCTIONS="$(FUNCTIONS)" bash scripts/deploy-regions.sh

# cfn-lint on infra/*.yaml and on their SAM expansion, cfn-guard rules (infra/rules) on the
# expansion, and each rule proven to fail on its bad fixture (infra/rules/tests).
lint-infra:
	bash scripts/infra-tools.sh lint
	FUNCTIONS="$(FUNCTIONS)" bash scripts/lint-infra.sh
