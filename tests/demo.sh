#!/usr/bin/env bash
# `make demo`: the plugin in its sandboxed host, end to end on local defaults. It normalises the
# sample messages, then links a mailbox at a fake Google (consent answered automatically), shows
# the read-only settings, fetches the folders from a local Dovecot over TLS and saves the
# suggested mapping, refreshes the token, unlinks and links again, and leaves nothing running.
set -euo pipefail

DIR=${DEMO_DIR:-target/demo}
BIN=${CARGO_TARGET_DIR:-target}/debug
mkdir -p "$DIR"
rm -rf "$DIR/fake" "$DIR"/demo.db*
HOST=("$BIN/mailsync-host" --db "$DIR/demo.db" --cache-dir "$DIR/components")

step() { printf '\n== %s\n' "$*"; }

step "Normalising the bundled sample messages through the sandboxed plugin"
"${HOST[@]}" normalize --address bob@crm-customer.nl tests/corpus
step "One record as the CRM receives it (JSON)"
"${HOST[@]}" normalize --json --address bob@crm-customer.nl tests/corpus/05-attachments.eml

"$BIN/fake-provider" serve --dir "$DIR/fake" &
FAKE=$!
trap 'kill $FAKE 2>/dev/null; wait $FAKE 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -e "$DIR/fake/ready" ] && break; sleep 0.1; done
[ -e "$DIR/fake/ready" ] || { echo "the fake provider did not start"; exit 1; }
HOST+=(--settings "$DIR/fake/settings.toml" --mailbox anna)
# The "browser": follows the consent page's redirect back to the loopback listener.
export BROWSER="$BIN/fake-provider browse --ca $DIR/fake/ca.pem"

step "The E-mail settings panel before linking"
"${HOST[@]}" status
step "Link mailbox: Google (consent answered by the fake provider)"
"${HOST[@]}" link --provider google
step "Edit folders: the mailbox's folders, fetched over IMAP with XOAUTH2"
"${HOST[@]}" folders
step "The mapping their special-use attributes suggest"
"${HOST[@]}" suggest
step "Save it (the CRM's Archive to the mailbox's Archive, and so on)"
"${HOST[@]}" map inbox=INBOX archive=Archive deleted=Trash sent=Sent
step "Refresh the access token"
"${HOST[@]}" refresh --force
step "The panel in Dutch"
"${HOST[@]}" --lang nl status
step "Remove mailbox"
"${HOST[@]}" unlink
step "Link again at once, through Microsoft 365"
"${HOST[@]}" link --provider microsoft
"${HOST[@]}" unlink
step "The capability audit"
"${HOST[@]}" audit
