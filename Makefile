# The two commands: `make demo` runs the product end to end, `make test` runs every test; and
# `make serve` keeps the service up for a person to use its panel. Each installs what it needs
# first (the wasm32-wasip2 target, Debian's dovecot-imapd for the real IMAP server, and for the
# tests Debian's chromium and chromium-driver for the panel's browser tests), idempotently.

CARGO ?= cargo
DEMO_DIR ?= $(CURDIR)/target/demo
CARGO_TARGET ?= $(or $(CARGO_TARGET_DIR),target)

.PHONY: setup dovecot chromium postgresql isync python3 demo demo-cluster serve test lint bench

setup: dovecot
	@command -v rustup >/dev/null || { echo "rustup is required: see https://rustup.rs"; exit 1; }
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# Dovecot is installed without being started (a policy-rc.d forbids it for the install's length);
# the tests start their own instances.
dovecot:
	@test -x /usr/sbin/dovecot || { \
	  echo "Installing dovecot-imapd (the tests' IMAP server)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  OWN_POLICY=$$([ -e /usr/sbin/policy-rc.d ] || echo yes); \
	  [ -z "$$OWN_POLICY" ] || printf '#!/bin/sh\nexit 101\n' | $$SUDO tee /usr/sbin/policy-rc.d >/dev/null; \
	  [ -z "$$OWN_POLICY" ] || $$SUDO chmod +x /usr/sbin/policy-rc.d; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dovecot-imapd >/dev/null; \
	  STATUS=$$?; [ -z "$$OWN_POLICY" ] || $$SUDO rm -f /usr/sbin/policy-rc.d; exit $$STATUS; }

# Headless Chromium and its WebDriver, for the panel's browser tests.
chromium:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
	  echo "Installing chromium and chromium-driver (the panel's test browser)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

# PostgreSQL for the many-node tests, installed without starting the system's cluster (the tests
# start their own, as an unprivileged user, on free loopback ports).
postgresql:
	@test -x /usr/lib/postgresql/15/bin/initdb || { \
	  echo "Installing postgresql (the many-node tests' database)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  OWN_POLICY=$$([ -e /usr/sbin/policy-rc.d ] || echo yes); \
	  [ -z "$$OWN_POLICY" ] || printf '#!/bin/sh\nexit 101\n' | $$SUDO tee /usr/sbin/policy-rc.d >/dev/null; \
	  [ -z "$$OWN_POLICY" ] || $$SUDO chmod +x /usr/sbin/policy-rc.d; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; \
	  STATUS=$$?; [ -z "$$OWN_POLICY" ] || $$SUDO rm -f /usr/sbin/policy-rc.d; exit $$STATUS; }

# Python 3 runs tests/bench/seed.py, which writes the realistic mailbox of the golden records
# and the benchmarks.
python3:
	@command -v python3 >/dev/null || { \
	  echo "Installing python3 (the realistic mail generator)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3 >/dev/null; }

demo: setup
	$(CARGO) build -p host-harness -p tests --bins
	DEMO_DIR=$(DEMO_DIR) bash tests/demo.sh

# Two nodes on a throwaway PostgreSQL: one killed, the other takes over.
demo-cluster: setup postgresql
	$(CARGO) build -p host-harness -p tests --bins
	$(CARGO_TARGET)/debug/demo-cluster --host $(CARGO_TARGET)/debug/mailsync-host

serve: setup
	$(CARGO) build -p host-harness -p tests --bins
	bash tests/serve.sh

test: setup chromium postgresql python3
	$(CARGO) test --workspace

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# mbsync (Debian's isync), the benchmark's point of comparison.
isync:
	@test -x /usr/bin/mbsync || { \
	  echo "Installing isync (mbsync), for the sync benchmark"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq isync >/dev/null; }

bench: setup isync postgresql python3
	$(CARGO) run --release -p tests --bin bench
	$(CARGO) run --release -p tests --bin bench-sync -- --scratch /dev/shm
	$(CARGO) run --release -p tests --bin bench-push
	$(CARGO) build --release -p host-harness --bin mailsync-host
	$(CARGO) run --release -p tests --bin bench-watch
	$(CARGO) run --release -p tests --bin bench-failover
	$(CARGO) run --release -p tests --bin bench-converge
	$(CARGO) run --release -p tests --bin bench-leases
	$(CARGO) run --release -p tests --bin bench-nodes -- --scratch /dev/shm --syncs-per-node 16
