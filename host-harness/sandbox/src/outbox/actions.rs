//! Actions on mail through the outbox: the platform's "mark read", "flag", "archive" and
//! "delete" are stored under its idempotency key, then made in the mailbox in order with its
//! sends, in the mailbox's turn; the CRM's record then follows the mailbox's answer.

use sha2::{Digest, Sha256};

use super::{QueueError, Queued, checked_key, hex, message_json, random_hex};
use crate::bindings::act::{Action, ActionError, ActionOutcome, ActionReceipt, SeenAt, Target};
use crate::bindings::inbox::{Location, MessageFlags};
use crate::bindings::mailbox::ErrorKind;
use crate::bindings::message::CrmFolder;
use crate::errors::CallError;
use crate::inbox_store::{self, Change, MessagePlaces};
use crate::mailbox::Mailbox;
use crate::outbox_store::{NewOutboxEntry, OutboxEntry, OutboxKind, OutboxState, OutboxUpdate};

/// An action as the platform asks for it: `{"seen": true}`, `{"flagged": false}` or
/// `{"move_to": "archive"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionRequest {
    Seen(bool),
    Flagged(bool),
    MoveTo(MoveTarget),
}

/// What the outbox keeps as the action: the platform's, or the host's own `\Answered` once a
/// reply to the message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Acting {
    Asked(ActionRequest),
    Answered,
}

/// The CRM folders a message may be moved to (Sent is where the provider files what is sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MoveTarget {
    Inbox,
    Archive,
    Deleted,
}

impl Acting {
    fn to_wit(self) -> Action {
        match self {
            Acting::Asked(ActionRequest::Seen(on)) => Action::Seen(on),
            Acting::Asked(ActionRequest::Flagged(on)) => Action::Flagged(on),
            Acting::Answered => Action::Answered,
            Acting::Asked(ActionRequest::MoveTo(to)) => Action::MoveTo(match to {
                MoveTarget::Inbox => CrmFolder::Inbox,
                MoveTarget::Archive => CrmFolder::Archive,
                MoveTarget::Deleted => CrmFolder::Deleted,
            }),
        }
    }

    /// The CRM folder (its index) a move puts the message in.
    fn destination(self) -> Option<u8> {
        match self {
            Acting::Asked(ActionRequest::MoveTo(MoveTarget::Inbox)) => Some(0),
            Acting::Asked(ActionRequest::MoveTo(MoveTarget::Archive)) => Some(2),
            Acting::Asked(ActionRequest::MoveTo(MoveTarget::Deleted)) => Some(3),
            _ => None,
        }
    }
}

/// What the outbox keeps of an action (sealed).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct StoredAction {
    /// The CRM message, by its id in the inbox.
    message: i64,
    action: Acting,
}

fn flags_of(bits: u8) -> MessageFlags {
    MessageFlags {
        seen: bits & inbox_store::SEEN != 0,
        answered: bits & inbox_store::ANSWERED != 0,
        flagged: bits & inbox_store::FLAGGED != 0,
        draft: bits & inbox_store::DRAFT != 0,
    }
}

fn bits_of(flags: &MessageFlags) -> u8 {
    let bit = |on: bool, bit: u8| if on { bit } else { 0 };
    bit(flags.seen, inbox_store::SEEN)
        | bit(flags.answered, inbox_store::ANSWERED)
        | bit(flags.flagged, inbox_store::FLAGGED)
        | bit(flags.draft, inbox_store::DRAFT)
}

fn wit_location(l: &inbox_store::Location) -> Location {
    Location {
        remote_folder: l.remote_folder.clone(),
        uid_validity: l.uid_validity,
        uid: l.uid,
    }
}

fn store_location(l: &Location) -> inbox_store::Location {
    inbox_store::Location {
        remote_folder: l.remote_folder.clone(),
        uid_validity: l.uid_validity,
        uid: l.uid,
    }
}

/// The target as the plugin receives it: the message's places as the CRM last saw them.
fn target(places: &MessagePlaces) -> Target {
    Target {
        message_id: places.message_id.clone(),
        places: places
            .places
            .iter()
            .map(|(location, _, flags)| SeenAt {
                location: wit_location(location),
                flags: flags_of(*flags),
            })
            .collect(),
        gmail_message_id: None,
    }
}

/// The CRM's record brought in line with the mailbox's answer: the flags the server reported
/// at each place, and a move's new place in place of the old one, so the sync that sees the
/// same finds nothing new and raises no second event.
fn changes_after(places: &MessagePlaces, action: Acting, receipt: &ActionReceipt) -> Vec<Change> {
    let Some(folder) = action.destination() else {
        return receipt
            .now_at
            .iter()
            .map(|p| Change::Flags(store_location(&p.location), bits_of(&p.flags)))
            .collect();
    };
    let Some(to_folder) = receipt.now_at.first().map(|p| &p.location.remote_folder) else {
        return Vec::new();
    };
    // The places the plugin moved from: outside the destination and outside Sent, in order.
    let sources: Vec<&inbox_store::Location> = places
        .places
        .iter()
        .filter(|(l, crm, _)| &l.remote_folder != to_folder && *crm != 1)
        .map(|(l, _, _)| l)
        .collect();
    if sources.len() != receipt.now_at.len() {
        return Vec::new(); // a place was gone: the next sync settles where each copy is
    }
    sources
        .into_iter()
        .zip(&receipt.now_at)
        .map(|(from, to)| Change::Moved {
            from: from.clone(),
            to: store_location(&to.location),
            folder,
            flags: bits_of(&to.flags),
        })
        .collect()
}

fn seen_at_json(places: &[SeenAt]) -> serde_json::Value {
    serde_json::Value::Array(
        places
            .iter()
            .map(|p| {
                serde_json::json!({
                    "remote_folder": p.location.remote_folder,
                    "uid": p.location.uid,
                    "flags": p.flags,
                })
            })
            .collect(),
    )
}

/// An action error as the outbox keeps it and the API shows it.
pub fn action_error_json(error: &ActionError) -> serde_json::Value {
    use serde_json::json;
    match error {
        ActionError::Mailbox(e) => json!({
            "kind": "mailbox",
            "mailbox_error": e.kind,
            "message": message_json(&e.message),
        }),
        ActionError::Gone(m) => json!({ "kind": "gone", "message": message_json(m) }),
        ActionError::NotMapped(m) => json!({ "kind": "not-mapped", "message": message_json(m) }),
        ActionError::Refused(m) => json!({ "kind": "refused", "message": message_json(m) }),
        ActionError::Temporary(m) => json!({ "kind": "temporary", "message": message_json(m) }),
    }
}

fn is_temporary(error: &ActionError) -> bool {
    match error {
        ActionError::Temporary(_) => true,
        ActionError::Mailbox(e) => matches!(
            e.kind,
            ErrorKind::Network(_)
                | ErrorKind::ImapUnreachable(_)
                | ErrorKind::ProviderUnavailable(_)
                | ErrorKind::ImapThrottled(_)
        ),
        _ => false,
    }
}

/// The action's fingerprint: the same key with another action (or message) is refused.
fn digest(stored: &StoredAction) -> String {
    hex(&Sha256::digest(
        serde_json::to_vec(stored).unwrap_or_default(),
    ))
}

impl Mailbox {
    /// Takes `action` on CRM message `message` into the outbox under `key`: the entry, or the
    /// one `key` made before (refused when that was another action).
    pub async fn queue_action(
        &self,
        key: &str,
        message: i64,
        action: ActionRequest,
    ) -> Result<Queued, QueueError> {
        self.queue_acting(key, message, Acting::Asked(action)).await
    }

    /// Queues `\Answered` for CRM message `message`, a reply to which was just sent.
    pub(crate) async fn queue_answered(
        &self,
        key: &str,
        message: i64,
    ) -> Result<Queued, QueueError> {
        self.queue_acting(key, message, Acting::Answered).await
    }

    async fn queue_acting(
        &self,
        key: &str,
        message: i64,
        action: Acting,
    ) -> Result<Queued, QueueError> {
        let key = checked_key(key)?.to_string();
        let places = self.places(message).await?;
        let places = places.ok_or(QueueError::MessageUnknown(message))?;
        let stored = StoredAction { message, action };
        let digest = digest(&stored);
        let entry = NewOutboxEntry {
            id: format!("ob_{}", random_hex(12)),
            mailbox: self.id.clone(),
            kind: OutboxKind::Action,
            idempotency_key: key,
            message_id: places.message_id,
            digest: digest.clone(),
            now_ms: self.now_ms(),
        };
        let draft = serde_json::to_vec(&stored).map_err(|e| CallError::Host {
            message: format!("the action cannot be stored: {e}"),
        })?;
        let (entry, added) = self.add_entry(entry, draft).await?;
        if !added && entry.digest != digest {
            return Err(QueueError::KeyReused { entry: entry.id });
        }
        Ok(Queued { entry, added })
    }

    async fn places(&self, message: i64) -> Result<Option<MessagePlaces>, CallError> {
        let id = self.id.clone();
        Ok(self
            .host
            .shared()
            .db
            .run_blocking(move |db| db.inbox().inbox_places(&id, message))
            .await?)
    }

    /// One attempt at action entry `entry` (marked sending by the caller), in the mailbox's
    /// turn: the update that ends it, or puts it back to wait.
    pub(crate) async fn attempt_action(
        &self,
        entry: &OutboxEntry,
        attempts: u32,
    ) -> Result<OutboxUpdate, CallError> {
        let Some(stored) = self.stored_draft::<StoredAction>(entry).await? else {
            return Ok(self.failed(
                entry,
                attempts,
                serde_json::json!({ "kind": "unreadable", "detail": "the stored action cannot be read" }),
            ));
        };
        let Some(places) = self.places(stored.message).await? else {
            return Ok(self.failed(
                entry,
                attempts,
                serde_json::json!({ "kind": "message-unknown", "message": stored.message }),
            ));
        };
        let answer = self
            .act_held(&target(&places), stored.action.to_wit())
            .await;
        Ok(match answer {
            Ok(Ok(receipt)) => {
                let changes = changes_after(&places, stored.action, &receipt);
                if !changes.is_empty() {
                    let (id, turn) = (self.id.clone(), crate::state::call_turn());
                    self.host
                        .shared()
                        .db
                        .run_blocking(move |db| {
                            db.inbox().inbox_apply_in_turn(turn.as_ref(), &id, &changes)
                        })
                        .await?;
                    self.host.shared().outbox_written.notify_waiters();
                }
                let outcome = serde_json::json!({
                    "outcome": match receipt.outcome {
                        ActionOutcome::Applied => "applied",
                        ActionOutcome::Already => "already",
                        ActionOutcome::Superseded => "superseded",
                    },
                    "now_at": seen_at_json(&receipt.now_at),
                });
                if receipt.outcome == ActionOutcome::Superseded {
                    let mut error = outcome;
                    error["kind"] = "changed-in-mailbox".into();
                    self.failed(entry, attempts, error)
                } else {
                    let now_ms = self.now_ms();
                    OutboxUpdate {
                        state: OutboxState::Applied,
                        attempts,
                        next_attempt_ms: now_ms,
                        outcome: Some(outcome),
                        now_ms,
                        event: None,
                    }
                }
            }
            Ok(Err(e)) if is_temporary(&e) => {
                self.retry_or_fail(entry, attempts, action_error_json(&e))
            }
            Ok(Err(e)) => self.failed(entry, attempts, action_error_json(&e)),
            Err(e) => self.after_call_error(entry, attempts, e)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_from_json_one_at_a_time() {
        let read = |json: &str| serde_json::from_str::<ActionRequest>(json);
        assert_eq!(
            read(r#"{"seen": true}"#).unwrap(),
            ActionRequest::Seen(true)
        );
        assert_eq!(
            read(r#"{"flagged": false}"#).unwrap(),
            ActionRequest::Flagged(false)
        );
        assert_eq!(
            read(r#"{"move_to": "archive"}"#).unwrap(),
            ActionRequest::MoveTo(MoveTarget::Archive)
        );
        for bad in [
            r#"{"move_to": "sent"}"#,
            r#"{"seen": true, "flagged": true}"#,
            r#"{"answered": true}"#,
            r#"{"expunge": true}"#,
            r#"{}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    fn places() -> MessagePlaces {
        let at = |folder: &str, uid| inbox_store::Location {
            remote_folder: folder.into(),
            uid_validity: 9,
            uid,
        };
        MessagePlaces {
            message_id: "m@x".into(),
            folder: 0,
            places: vec![(at("INBOX", 7), 0, 0), (at("Sent", 3), 1, 1)],
        }
    }

    #[test]
    fn a_move_replaces_the_old_place_and_leaves_sent_alone() {
        let receipt = ActionReceipt {
            outcome: ActionOutcome::Applied,
            now_at: vec![SeenAt {
                location: Location {
                    remote_folder: "Archive".into(),
                    uid_validity: 5,
                    uid: 40,
                },
                flags: flags_of(inbox_store::SEEN),
            }],
        };
        let changes = changes_after(
            &places(),
            Acting::Asked(ActionRequest::MoveTo(MoveTarget::Archive)),
            &receipt,
        );
        assert_eq!(
            changes,
            vec![Change::Moved {
                from: places().places[0].0.clone(),
                to: inbox_store::Location {
                    remote_folder: "Archive".into(),
                    uid_validity: 5,
                    uid: 40
                },
                folder: 2,
                flags: inbox_store::SEEN,
            }]
        );
        // Flags follow the server's answer, place by place.
        let flagged = ActionReceipt {
            outcome: ActionOutcome::Applied,
            now_at: vec![SeenAt {
                location: wit_location(&places().places[0].0),
                flags: flags_of(inbox_store::FLAGGED),
            }],
        };
        assert_eq!(
            changes_after(
                &places(),
                Acting::Asked(ActionRequest::Flagged(true)),
                &flagged
            ),
            vec![Change::Flags(
                places().places[0].0.clone(),
                inbox_store::FLAGGED
            )]
        );
    }

    #[test]
    fn the_hosts_own_answered_reads_back_from_the_outbox() {
        for action in [
            Acting::Answered,
            Acting::Asked(ActionRequest::Seen(false)),
            Acting::Asked(ActionRequest::MoveTo(MoveTarget::Deleted)),
        ] {
            let stored = StoredAction { message: 7, action };
            let json = serde_json::to_vec(&stored).unwrap();
            assert_eq!(
                serde_json::from_slice::<StoredAction>(&json).unwrap(),
                stored
            );
        }
    }

    #[test]
    fn flag_bits_read_back() {
        for bits in 0..16u8 {
            assert_eq!(bits_of(&flags_of(bits)), bits);
        }
    }
}
