#!/usr/bin/env bash
# `make demo`: the plugin in its sandboxed host, end to end on local defaults. It starts a local
# Dovecot seeded with a realistic mailbox and a fake Google, links the mailbox (consent answered
# automatically), saves the suggested folder mapping, syncs into the CRM's SQLite inbox with a
# progress bar, lists the messages, adds new mail and flips a flag, syncs again (incremental),
# unlinks, and leaves nothing running.
set -euo pipefail

DIR=${DEMO_DIR:-target/demo}
BIN=${CARGO_TARGET_DIR:-target}/debug
mkdir -p "$DIR"
rm -rf "$DIR/fake" "$DIR"/demo.db*
HOST=("$BIN/mailsync-host" --db "$DIR/demo.db" --cache-dir "$DIR/components")

step() { printf '\n== %s\n' "$*"; }

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
step "Sync: the first sync takes the last 30 days of every mapped folder"
"${HOST[@]}" sync
step "The CRM's messages (folder, flags S=seen A=answered F=flagged, direction, subject)"
"${HOST[@]}" messages
step "One message as the CRM stored it"
"${HOST[@]}" messages --show 2
step "Meanwhile in the mailbox: a new reply arrives, and Bob's message is read and flagged"
"$BIN/fake-provider" new-mail --dir "$DIR/fake"
step "Sync again: only what changed (QRESYNC), one EXAMINE per folder otherwise"
"${HOST[@]}" sync
"${HOST[@]}" messages
step "A sync with nothing new"
"${HOST[@]}" sync
step "The panel, with the last sync, in Dutch"
"${HOST[@]}" --lang nl status
step "Remove mailbox (the CRM keeps the mail it received)"
"${HOST[@]}" unlink
"${HOST[@]}" messages
step "The capability audit"
"${HOST[@]}" audit
