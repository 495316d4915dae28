# The two commands: `make demo` runs the product end to end, `make test` runs every test.
# Both install what they need first (the wasm32-wasip2 target), idempotently.

CARGO ?= cargo
DEMO_DIR ?= $(CURDIR)/target/demo

.PHONY: setup demo test lint bench

setup:
	@command -v rustup >/dev/null || { echo "rustup is required: see https://rustup.rs"; exit 1; }
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

demo: setup
	$(CARGO) build -p host-harness -p tests --bins
	DEMO_DIR=$(DEMO_DIR) bash tests/demo.sh

test: setup
	$(CARGO) test --workspace

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: setup
	$(CARGO) run --release -p tests --bin bench
