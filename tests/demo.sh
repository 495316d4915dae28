#!/usr/bin/env bash
# `make demo`: the always-on service end to end on local defaults (SQLite, a local Dovecot with a
# realistic mailbox, the fake OAuth providers), told through its HTTP API: link, map, the first
# sync, mail arriving by push with its measured latency, a flag change, a reply sent through the
# outbox (delivered once, once in Sent) and an archive written back, the metrics, unlink, and
# a clean SIGTERM. Then the capability audit. Nothing is left running.
set -euo pipefail

DIR=${DEMO_DIR:-target/demo}
BIN=${CARGO_TARGET_DIR:-target}/debug
mkdir -p "$DIR"
rm -rf "$DIR"/demo.db* "$DIR"/settings.toml

"$BIN/demo" --dir "$DIR" --host "$BIN/mailsync-host"

printf '\n== %s\n' "The capability audit: every import and export, and what the policy grants"
"$BIN/mailsync-host" --settings "$DIR/settings.toml" --db "$DIR/demo.db" --cache-dir "$DIR/components" audit
