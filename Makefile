# The two commands: `make demo` runs the product end to end, `make test` runs every test; and
# `make serve` keeps the service up for a person to use its panel. Each installs what it needs
# first (the wasm32-wasip2 target, Debian's dovecot-imapd for the real IMAP server, postfix and
# dovecot-lmtpd for the real submission server, and for the tests Debian's chromium and
# chromium-driver for the panel's browser tests), idempotently.

CARGO ?= cargo
DEMO_DIR ?= $(CURDIR)/target/demo
CARGO_TARGET ?= $(or $(CARGO_TARGET_DIR),target)

.PHONY: forks fuzz cargo-fuzz vendored-tests setup supported dovecot postfix chromium postgresql isync python3 demo demo-cluster serve test lint bench

setup: supported dovecot postfix forks
	@command -v rustup >/dev/null || { echo "rustup is required: see https://rustup.rs"; exit 1; }
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# The release `make` installs for and is tested on; elsewhere it stops and says so
# (MAILSYNC_ANY_OS=1 goes on anyway, at your own risk).
supported:
	@. /etc/os-release 2>/dev/null; case "$$ID:$$VERSION_ID" in debian:12) ;; \
	  *) echo "make supports Debian 12 (bookworm), whose packages it installs and tests against;" \
	       "this machine runs $${PRETTY_NAME:-an unknown system}. Set MAILSYNC_ANY_OS=1 to try anyway." >&2; \
	     [ -n "$$MAILSYNC_ANY_OS" ] || exit 1;; esac

# Installs Debian packages $(2) unless `$(1)` holds, with sudo unless root, and starts none of
# their services (a policy-rc.d that exits 101 for the install's length, unless the machine
# has one of its own): the tests start their own servers on free loopback ports.
define apt_install
@$(1) || { \
  echo "Installing $(2) ($(3))"; \
  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
  OWN_POLICY=$$([ -e /usr/sbin/policy-rc.d ] || echo yes); \
  [ -z "$$OWN_POLICY" ] || printf '#!/bin/sh\nexit 101\n' | $$SUDO tee /usr/sbin/policy-rc.d >/dev/null; \
  [ -z "$$OWN_POLICY" ] || $$SUDO chmod +x /usr/sbin/policy-rc.d; \
  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(2) >/dev/null; \
  STATUS=$$?; [ -z "$$OWN_POLICY" ] || $$SUDO rm -f /usr/sbin/policy-rc.d; exit $$STATUS; }
endef

dovecot:
	$(call apt_install,test -x /usr/sbin/dovecot,dovecot-imapd,the tests' IMAP server)

# Postfix is the tests' submission server: it authenticates tokens through Dovecot's SASL and
# delivers by LMTP into the test Dovecot.
postfix:
	$(call apt_install,test -x /usr/sbin/postfix -a -x /usr/lib/dovecot/lmtp,postfix dovecot-lmtpd,the tests' submission server)

chromium:
	$(call apt_install,test -x /usr/bin/chromium -a -x /usr/bin/chromedriver,chromium chromium-driver,the panel's test browser)

# Whichever version the release ships (Debian 12: 15); the tests take the newest installed.
postgresql:
	$(call apt_install,ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1,postgresql,the many-node tests' database)

# Python 3 runs tests/bench/seed.py, which writes the realistic mailbox of the golden records
# and the benchmarks.
python3:
	$(call apt_install,command -v python3 >/dev/null,python3,the realistic mail generator)

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

test: setup chromium postgresql python3 cargo-fuzz
	$(CARGO) test --workspace
	$(MAKE) vendored-tests
	$(MAKE) fuzz FUZZ_SECONDS=20 FUZZ_SEED=1

# The fuzz targets for the guest's parsers of hostile input (plugin/fuzz/), built by cargo-fuzz on
# stable Rust (RUSTC_BOOTSTRAP=1, no sanitizer), each run FUZZ_SECONDS from a seeded corpus kept
# under the target directory, after every input that once failed (plugin/fuzz/regressions/); a
# crash, or one input running past 30 s, stops it (plugin/fuzz/run.sh).
# FUZZ_SEED fixes libFuzzer's choices, so a run can be repeated (0: a new seed each run, for
# exploring); make test runs a fixed seed, so a failure it reports is one anyone can reproduce.
FUZZ_TARGETS := raw_fetch header_repair utf7_round_trip normalize imap_responses smtp_replies
FUZZ_SECONDS ?= 600
FUZZ_SEED ?= 0
FUZZ_DIR := $(abspath $(CARGO_TARGET))/fuzz

cargo-fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked --version 0.13.2

fuzz: setup python3 cargo-fuzz
	python3 plugin/fuzz/seed_corpus.py $(FUZZ_DIR)/corpus
	CARGO="$(CARGO)" bash plugin/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_SEED) $(FUZZ_TARGETS)

# The forks we carry: each crates.io release, checked, with our patches, written to vendor/<name>/
# (vendor/forks.sh; vendor/README.md); nothing to do while it is up to date.
forks:
	@bash vendor/forks.sh apply

# The forks' own tests (unit, integration and doc tests), each built on its own with the other
# forks patched in.
vendored-tests: forks
	CARGO="$(CARGO)" bash vendor/forks.sh test

# rustfmt, and clippy on the workspace and on the guest as the component is built (its glue to
# the WIT bindings compiles for wasm32 only).
lint: setup
	bash vendor/forks.sh check
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path plugin/fuzz/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p plugin --target wasm32-wasip2 -- -D warnings
	$(CARGO) clippy -p plugin --features fuzzing -- -D warnings

# mbsync (Debian's isync), the benchmark's point of comparison.
isync:
	$(call apt_install,test -x /usr/bin/mbsync,isync,mbsync: the sync benchmark's point of comparison)

bench: setup isync postgresql python3
	$(CARGO) run --release -p tests --bin bench
	$(CARGO) run --release -p tests --bin bench-sync -- --scratch /dev/shm
	$(CARGO) run --release -p tests --bin bench-push
	$(CARGO) run --release -p tests --bin bench-send
	$(CARGO) run --release -p tests --bin bench-act
	$(CARGO) build --release -p host-harness --bin mailsync-host
	$(CARGO) run --release -p tests --bin bench-watch
	$(CARGO) run --release -p tests --bin bench-failover
	$(CARGO) run --release -p tests --bin bench-converge
	$(CARGO) run --release -p tests --bin bench-leases
	$(CARGO) run --release -p tests --bin bench-nodes -- --scratch /dev/shm --syncs-per-node 16
