#!/usr/bin/env bash
# `make serve`: the always-on service for a person to use its panel. It starts a local Dovecot
# with Anna's mailbox, the fake Google and Microsoft (with a consent page to answer, and a new
# customer reply in Anna's inbox every 30 seconds), and `mailsync-host serve`; prints the panel's
# sign-in link; and stops everything on Ctrl-C.
set -euo pipefail

DIR=${SERVE_DIR:-target/serve}
BIN=${CARGO_TARGET_DIR:-target}/debug
LISTEN=${SERVE_LISTEN:-127.0.0.1:8025}
PANEL_LANG=${PANEL_LANG:-en}
mkdir -p "$DIR"
rm -rf "$DIR/fake" "$DIR"/serve.db*

"$BIN/fake-provider" serve --dir "$DIR/fake" --interactive --new-mail-every 30 &
FAKE=$!
SERVICE=
stop() {
  [ -z "$SERVICE" ] || kill "$SERVICE" 2>/dev/null || true
  [ -z "$SERVICE" ] || wait "$SERVICE" 2>/dev/null || true
  kill "$FAKE" 2>/dev/null || true
  wait "$FAKE" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 0' INT TERM
for _ in $(seq 200); do [ -e "$DIR/fake/ready" ] && break; sleep 0.1; done
[ -e "$DIR/fake/ready" ] || { echo "the fake provider did not start"; exit 1; }

echo "Starting the service on http://$LISTEN (Ctrl-C stops everything)."
echo "In the panel: choose Google, Link mailbox (consent in the new tab), Edit folders, Save;"
echo "a customer reply arrives in Anna's inbox every 30 seconds; then Remove mailbox."
"$BIN/mailsync-host" --settings "$DIR/fake/settings.toml" --db "$DIR/serve.db" \
  --cache-dir "$DIR/components" --mailbox anna --lang "$PANEL_LANG" --log info \
  serve --listen "$LISTEN" --panel-login anna &
SERVICE=$!
wait "$SERVICE"
