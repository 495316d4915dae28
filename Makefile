# The two commands: `make demo` runs the product end to end, `make test` runs every test.
# Both install what they need first (the wasm32-wasip2 target), idempotently.

CARGO ?= cargo
DEMO_DIR ?= $(CURDIR)/target/demo
HOST = $(CARGO) run --quiet -p host-harness -- --db $(DEMO_DIR)/demo.db --cache-dir $(DEMO_DIR)/components

.PHONY: setup demo test lint bench

setup:
	@command -v rustup >/dev/null || { echo "rustup is required: see https://rustup.rs"; exit 1; }
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

demo: setup
	$(CARGO) build -p host-harness
	@mkdir -p $(DEMO_DIR)
	@echo "== Normalising the bundled sample messages through the sandboxed plugin"
	@$(HOST) normalize --address bob@crm-customer.nl tests/corpus
	@echo
	@echo "== One record as the CRM receives it (JSON)"
	@$(HOST) normalize --json --address bob@crm-customer.nl tests/corpus/05-attachments.eml
	@echo
	@echo "== The capability audit"
	@$(HOST) audit

test: setup
	$(CARGO) test --workspace

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: setup
	$(CARGO) run --release -p tests --bin bench
