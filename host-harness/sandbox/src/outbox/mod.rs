//! The mailbox's outbox: each send or action the platform asks for is stored, sealed, under the
//! platform's idempotency key before anything goes out, then made in order, one at a time, in
//! the mailbox's turn; temporary failures wait and try again, and a crash never sends twice.

pub mod actions;

use sha2::{Digest, Sha256};

use crate::bindings::mailbox::{ErrorKind, LinkState, MailboxError, UserMessage};
use crate::bindings::message::MailboxAddress;
use crate::bindings::send::{
    AttachmentFile, Draft, RepliedMessage, SendError, SendOutcome, SendReceipt, SentCopy,
};
use crate::errors::CallError;
use crate::mailbox::Mailbox;
use crate::outbox_store::{
    CRASHED_ATTEMPT_WAIT_MS, MAX_ATTEMPTS, NewOutboxEntry, OutboxEntry, OutboxKind, OutboxState,
    OutboxUpdate, retry_delay_ms,
};

/// The longest idempotency key taken.
pub const MAX_KEY_CHARS: usize = 200;

/// A send as the platform asks for it (the API's JSON, the CLI's options).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    #[serde(default)]
    pub to: Vec<Recipient>,
    #[serde(default)]
    pub cc: Vec<Recipient>,
    #[serde(default)]
    pub bcc: Vec<Recipient>,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<RequestAttachment>,
    /// The CRM message (its id in the inbox) this answers.
    #[serde(default)]
    pub reply_to: Option<i64>,
}

/// A recipient: an address, or a name and an address.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Recipient {
    Address(String),
    Named {
        name: Option<String>,
        address: String,
    },
}

impl Recipient {
    fn address(&self) -> &str {
        match self {
            Recipient::Address(a) | Recipient::Named { address: a, .. } => a.trim(),
        }
    }

    fn to_wit(&self) -> MailboxAddress {
        let name = match self {
            Recipient::Named { name, .. } => name.clone().filter(|n| !n.trim().is_empty()),
            Recipient::Address(_) => None,
        };
        MailboxAddress {
            name,
            address: self.address().to_string(),
        }
    }
}

/// An attachment; its content is base64 in JSON.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestAttachment {
    pub filename: String,
    #[serde(default = "octet_stream")]
    pub mime_type: String,
    #[serde(with = "base64_bytes")]
    pub content: Vec<u8>,
}

fn octet_stream() -> String {
    "application/octet-stream".into()
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        STANDARD
            .decode(text.trim())
            .map_err(|e| serde::de::Error::custom(format!("content is not base64: {e}")))
    }
}

/// What the outbox keeps of a send (sealed): the request, and what was fixed before the first
/// attempt, so every attempt sends the same message.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StoredSend {
    request: SendRequest,
    message_id: String,
    date: String,
    replied: Option<StoredReplied>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StoredReplied {
    message_id: String,
    references: Vec<String>,
    subject: Option<String>,
}

impl StoredSend {
    fn draft(&self, key: &str) -> Draft {
        let list = |r: &[Recipient]| r.iter().map(Recipient::to_wit).collect();
        Draft {
            idempotency_key: key.to_string(),
            message_id: self.message_id.clone(),
            to: list(&self.request.to),
            cc: list(&self.request.cc),
            bcc: list(&self.request.bcc),
            subject: self.request.subject.clone(),
            text: self.request.text.clone(),
            html: self.request.html.clone(),
            attachments: self
                .request
                .attachments
                .iter()
                .map(|a| AttachmentFile {
                    filename: a.filename.clone(),
                    mime_type: a.mime_type.clone(),
                    content: a.content.clone(),
                })
                .collect(),
            replies_to: self.replied.as_ref().map(|r| RepliedMessage {
                message_id: r.message_id.clone(),
                references: r.references.clone(),
                subject: r.subject.clone(),
            }),
            date: self.date.clone(),
        }
    }
}

/// Why a send was not taken into the outbox.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the idempotency key must be 1 to {MAX_KEY_CHARS} visible ASCII characters")]
    BadKey,
    #[error("this idempotency key was used for another message")]
    KeyReused { entry: String },
    #[error("the message has no recipient")]
    NoRecipient,
    #[error("not an address: {0}")]
    BadAddress(String),
    #[error("{count} recipients; at most {limit} are allowed")]
    TooManyRecipients { count: usize, limit: u32 },
    #[error("the message is about {size} bytes; at most {limit} are allowed")]
    TooLarge { size: u64, limit: u64 },
    #[error("no message {0} in this mailbox to reply to")]
    RepliedUnknown(i64),
    #[error("no message {0} in this mailbox")]
    MessageUnknown(i64),
    #[error("the mailbox's outbox holds {limit} unfinished entries; try again once some finish")]
    OutboxFull { limit: u64 },
    #[error("{}", .0.message.en)]
    Mailbox(Box<MailboxError>),
    #[error(transparent)]
    Store(#[from] crate::db::StoreError),
    #[error(transparent)]
    Call(#[from] CallError),
}

impl QueueError {
    /// A short stable name for the kind of refusal.
    pub fn kind(&self) -> &'static str {
        match self {
            QueueError::BadKey => "bad-idempotency-key",
            QueueError::KeyReused { .. } => "idempotency-key-reused",
            QueueError::NoRecipient => "no-recipient",
            QueueError::BadAddress(_) => "bad-address",
            QueueError::TooManyRecipients { .. } => "too-many-recipients",
            QueueError::TooLarge { .. } => "too-large",
            QueueError::RepliedUnknown(_) => "replied-message-unknown",
            QueueError::MessageUnknown(_) => "message-unknown",
            QueueError::OutboxFull { .. } => "outbox-full",
            QueueError::Mailbox(_) => "mailbox",
            QueueError::Store(_) | QueueError::Call(_) => "internal",
        }
    }
}

/// An entry just queued, or the one the same key made before.
#[derive(Debug, Clone)]
pub struct Queued {
    pub entry: OutboxEntry,
    /// False when the key had an entry already: nothing new was queued.
    pub added: bool,
}

/// What working the outbox did.
#[derive(Debug, Default)]
pub struct OutboxRun {
    /// The entries that reached sent or failed, or went back to wait, in order.
    pub worked: Vec<OutboxEntry>,
    /// When the next entry is due (ms since the epoch), if one waits.
    pub next_due_ms: Option<i64>,
}

/// Whether `address` can be a recipient: one `@`, no spaces, no control characters, no angle
/// brackets or commas (which would make it more than one).
fn plausible_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !local.contains('@')
        && address.len() <= 320
        && !address
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';'))
}

pub(crate) fn checked_key(key: &str) -> Result<&str, QueueError> {
    let fine =
        !key.is_empty() && key.len() <= MAX_KEY_CHARS && key.bytes().all(|b| b.is_ascii_graphic());
    fine.then_some(key).ok_or(QueueError::BadKey)
}

/// Checks what the host can check before queueing: recipients, their number, the size.
fn check_request(
    request: &SendRequest,
    max_recipients: u32,
    max_bytes: u64,
) -> Result<(), QueueError> {
    let recipients: Vec<&Recipient> = request
        .to
        .iter()
        .chain(&request.cc)
        .chain(&request.bcc)
        .collect();
    if recipients.is_empty() {
        return Err(QueueError::NoRecipient);
    }
    if recipients.len() > max_recipients as usize {
        return Err(QueueError::TooManyRecipients {
            count: recipients.len(),
            limit: max_recipients,
        });
    }
    if let Some(bad) = recipients.iter().find(|r| !plausible_address(r.address())) {
        return Err(QueueError::BadAddress(
            bad.address().chars().take(100).collect(),
        ));
    }
    // Attachments grow by a third in base64: the composed message is at least this.
    let size = request.text.len() as u64
        + request.html.as_ref().map_or(0, |h| h.len() as u64)
        + request
            .attachments
            .iter()
            .map(|a| (a.content.len() as u64).div_ceil(3) * 4)
            .sum::<u64>();
    if size > max_bytes {
        return Err(QueueError::TooLarge {
            size,
            limit: max_bytes,
        });
    }
    Ok(())
}

/// The request's fingerprint: the same key with another request is refused.
pub fn digest(request: &SendRequest) -> String {
    let json = serde_json::to_vec(request).unwrap_or_default();
    hex(&Sha256::digest(&json))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The threading headers of a stored record (`{"record": {...}}`, the record's serde form).
fn replied_from_record(record_json: &str) -> Option<StoredReplied> {
    let value: serde_json::Value = serde_json::from_str(record_json).ok()?;
    let record = value.get("record")?;
    let strings = |field: &str| -> Vec<String> {
        record
            .get(field)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(StoredReplied {
        message_id: record.get("message_id")?.as_str()?.to_string(),
        references: strings("references"),
        subject: record
            .get("subject")
            .and_then(|s| s.as_str())
            .map(str::to_string),
    })
}

/// Whether a failed attempt may be tried again later.
fn is_temporary(error: &SendError) -> bool {
    match error {
        SendError::Temporary(_) | SendError::RateLimited(_) => true,
        SendError::Mailbox(e) => matches!(
            e.kind,
            ErrorKind::Network(_)
                | ErrorKind::ImapUnreachable(_)
                | ErrorKind::ProviderUnavailable(_)
                | ErrorKind::ImapThrottled(_)
        ),
        _ => false,
    }
}

pub(crate) fn message_json(m: &UserMessage) -> serde_json::Value {
    serde_json::json!({ "key": m.key, "en": m.en, "nl": m.nl })
}

/// A send error as the outbox keeps it and the API shows it.
pub fn send_error_json(error: &SendError) -> serde_json::Value {
    use serde_json::json;
    match error {
        SendError::Mailbox(e) => json!({
            "kind": "mailbox",
            "mailbox_error": e.kind,
            "message": message_json(&e.message),
        }),
        SendError::InvalidDraft(m) => {
            json!({ "kind": "invalid-draft", "message": message_json(m) })
        }
        SendError::RecipientsRefused(list) => json!({
            "kind": "recipients-refused",
            "recipients": list.iter().map(|r| json!({ "address": r.address, "reply": r.reply })).collect::<Vec<_>>(),
        }),
        SendError::TooLarge(cap) => {
            json!({ "kind": "too-large", "limit": cap.limit, "actual": cap.actual })
        }
        SendError::RateLimited(secs) => json!({ "kind": "rate-limited", "retry_after": secs }),
        SendError::ProviderLimit(m) => {
            json!({ "kind": "provider-limit", "message": message_json(m) })
        }
        SendError::Rejected(m) => json!({ "kind": "rejected", "message": message_json(m) }),
        SendError::Temporary(m) => json!({ "kind": "temporary", "message": message_json(m) }),
    }
}

fn receipt_json(receipt: &SendReceipt) -> serde_json::Value {
    serde_json::json!({
        "message_id": receipt.message_id,
        "thread_key": receipt.thread_key,
        "outcome": match receipt.outcome {
            SendOutcome::Sent => "sent",
            SendOutcome::AlreadySent => "already-sent",
        },
        "sent_copy": match receipt.sent_copy {
            SentCopy::ByProvider => "by-provider",
            SentCopy::Appended => "appended",
            SentCopy::None => "none",
        },
        "size": receipt.size,
    })
}

/// A random hex string of `bytes` bytes.
pub fn random_hex(bytes: usize) -> String {
    use aes_gcm::aead::rand_core::RngCore;
    let mut buf = vec![0u8; bytes];
    aes_gcm::aead::OsRng.fill_bytes(&mut buf);
    hex(&buf)
}

/// RFC 3339 (UTC, seconds) for `ms` since the epoch.
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Mailbox {
    /// Takes `request` into the outbox under `key`, its Message-ID and Date fixed now: the
    /// entry, or the one `key` made before (refused when that was another request).
    pub async fn queue_send(&self, key: &str, request: SendRequest) -> Result<Queued, QueueError> {
        let key = checked_key(key)?.to_string();
        let shared = self.host.shared();
        let policy = shared.platform().policy.clone();
        check_request(
            &request,
            policy.send_max_recipients,
            policy.send_max_message_bytes,
        )?;
        let digest = digest(&request);
        let status = self
            .status()
            .await?
            .map_err(|e| QueueError::Mailbox(Box::new(e)))?;
        let address = match (status.state, status.address) {
            (LinkState::Linked, Some(address)) => address,
            _ => {
                return Err(QueueError::Mailbox(Box::new(MailboxError {
                    kind: ErrorKind::NotLinked,
                    message: UserMessage {
                        key: "send.not_linked".into(),
                        params: vec![],
                        en: "This mailbox is not linked: link it before sending.".into(),
                        nl: "Deze mailbox is niet gekoppeld: koppel hem voordat je verstuurt."
                            .into(),
                    },
                })));
            }
        };
        let replied = match request.reply_to {
            None => None,
            Some(message) => {
                let id = self.id.clone();
                let record = shared
                    .db
                    .run_blocking(move |db| db.inbox().inbox_record(&id, message))
                    .await?;
                Some(
                    record
                        .as_deref()
                        .and_then(replied_from_record)
                        .ok_or(QueueError::RepliedUnknown(message))?,
                )
            }
        };
        let now_ms = self.now_ms();
        let domain = address.rsplit_once('@').map_or("localhost", |(_, d)| d);
        let stored = StoredSend {
            request,
            message_id: format!("{}.mailsync@{domain}", random_hex(16)),
            date: rfc3339(now_ms),
            replied,
        };
        let entry = NewOutboxEntry {
            id: format!("ob_{}", random_hex(12)),
            mailbox: self.id.clone(),
            kind: OutboxKind::Send,
            idempotency_key: key,
            message_id: stored.message_id.clone(),
            digest: digest.clone(),
            now_ms,
        };
        let draft = serde_json::to_vec(&stored).map_err(|e| CallError::Host {
            message: format!("the draft cannot be stored: {e}"),
        })?;
        let (entry, added) = self.add_entry(entry, draft).await?;
        if !added && entry.digest != digest {
            return Err(QueueError::KeyReused { entry: entry.id });
        }
        Ok(Queued { entry, added })
    }

    /// Adds `entry` with its draft, unless its key has one already: refused when the mailbox's
    /// outbox holds `outbox_max_open` unfinished entries (a key's own entry is still answered).
    /// Checked before the add, so entries added at one instant on several nodes may pass the
    /// bound by a few.
    pub(crate) async fn add_entry(
        &self,
        entry: NewOutboxEntry,
        draft: Vec<u8>,
    ) -> Result<(OutboxEntry, bool), QueueError> {
        let shared = self.host.shared();
        let limit = shared.platform().policy.outbox_max_open;
        let (id, key) = (self.id.clone(), entry.idempotency_key.clone());
        let (open, existing) = shared
            .db
            .run_blocking(move |db| {
                let existing = db.outbox_entry_by_key(&id, &key)?;
                let open = match existing {
                    Some(_) => 0,
                    None => db.outbox_open_count(&id)?,
                };
                Ok::<_, crate::db::StoreError>((open, existing))
            })
            .await?;
        if let Some(existing) = existing {
            return Ok((existing, false));
        }
        if open >= limit {
            return Err(QueueError::OutboxFull { limit });
        }
        Ok(shared
            .db
            .run_blocking(move |db| db.outbox_add(&entry, &draft))
            .await?)
    }

    /// One entry of this mailbox's outbox, by id.
    pub async fn outbox_entry(&self, entry: &str) -> Result<Option<OutboxEntry>, CallError> {
        let (id, entry) = (self.id.clone(), entry.to_string());
        Ok(self
            .host
            .shared()
            .db
            .run_blocking(move |db| db.outbox_entry(&id, &entry))
            .await?)
    }

    /// Sends this mailbox's due entries, in order, each in the mailbox's turn, until none is
    /// due: an entry that failed for now waits, and holds back those after it.
    pub async fn work_outbox(&self) -> Result<OutboxRun, CallError> {
        let mut run = OutboxRun::default();
        loop {
            let id = self.id.clone();
            let db = self.host.shared().db.clone();
            let step = self.in_turn(async {
                let head = db.run_blocking(move |db| db.outbox_head(&id)).await?;
                match head {
                    None => Ok(Step::Empty),
                    Some(entry) if entry.next_attempt_ms > self.now_ms() => {
                        Ok(Step::Waiting(entry.next_attempt_ms))
                    }
                    Some(entry) => Ok(Step::Worked(self.attempt(entry).await?)),
                }
            });
            match step.await? {
                Step::Empty => return Ok(run),
                Step::Waiting(due) => {
                    run.next_due_ms = Some(due);
                    return Ok(run);
                }
                Step::Worked(entry) => {
                    let waits = entry.state == OutboxState::Queued;
                    let due = entry.next_attempt_ms;
                    run.worked.push(entry);
                    if waits {
                        run.next_due_ms = Some(due);
                        return Ok(run);
                    }
                }
            }
        }
    }

    /// One attempt at `entry`, in the mailbox's turn: marked sending first, so a crash during
    /// it is seen, then sent, then marked with how it ended.
    async fn attempt(&self, entry: OutboxEntry) -> Result<OutboxEntry, CallError> {
        let attempts = entry.attempts.saturating_add(1);
        let now_ms = self.now_ms();
        self.update(
            &entry.id,
            OutboxUpdate {
                state: OutboxState::Sending,
                attempts,
                next_attempt_ms: now_ms + CRASHED_ATTEMPT_WAIT_MS,
                outcome: entry.outcome.clone(),
                now_ms,
                event: None,
            },
        )
        .await?;
        let update = match entry.kind {
            OutboxKind::Action => self.attempt_action(&entry, attempts).await?,
            OutboxKind::Send => self.attempt_send(&entry, attempts).await?,
        };
        let state = update.state;
        let (outcome, next) = (update.outcome.clone(), update.next_attempt_ms);
        let raised = update.event.is_some();
        self.update(&entry.id, update).await?;
        if raised {
            self.host.shared().outbox_written.notify_waiters();
        }
        Ok(OutboxEntry {
            state,
            attempts,
            outcome,
            next_attempt_ms: next,
            updated_ms: self.now_ms(),
            ..entry
        })
    }

    /// One attempt at send entry `entry`, marked sending: the update that ends it, or puts it
    /// back to wait. A reply sent marks the message it answers `\Answered`, through the outbox.
    async fn attempt_send(
        &self,
        entry: &OutboxEntry,
        attempts: u32,
    ) -> Result<OutboxUpdate, CallError> {
        let stored: Option<StoredSend> = self.stored_draft(entry).await?;
        let replied = stored.as_ref().and_then(|s| s.request.reply_to);
        let update = match stored {
            None => self.failed(
                entry,
                attempts,
                serde_json::json!({ "kind": "unreadable", "detail": "the stored draft cannot be read" }),
            ),
            Some(stored) => {
                let draft = stored.draft(&entry.idempotency_key);
                let answer = self.send_held(&draft).await;
                let faults = &self.host.shared().faults;
                faults.before_outbox_record().map_err(|m| CallError::Host {
                    message: m.into(),
                })?;
                match answer {
                    Ok(Ok(receipt)) => {
                        let outcome = receipt_json(&receipt);
                        let now_ms = self.now_ms();
                        OutboxUpdate {
                            state: OutboxState::Sent,
                            attempts,
                            next_attempt_ms: now_ms,
                            event: Some((
                                "message.sent",
                                serde_json::json!({
                                    "entry": entry.id,
                                    "idempotency_key": entry.idempotency_key,
                                    "receipt": outcome,
                                }),
                            )),
                            outcome: Some(outcome),
                            now_ms,
                        }
                    }
                    Ok(Err(SendError::RateLimited(secs))) => {
                        // Not the message's fault: the attempt is not counted.
                        let now_ms = self.now_ms();
                        OutboxUpdate {
                            state: OutboxState::Queued,
                            attempts: entry.attempts,
                            next_attempt_ms: now_ms + i64::from(secs.max(1)) * 1000,
                            outcome: Some(send_error_json(&SendError::RateLimited(secs))),
                            now_ms,
                            event: None,
                        }
                    }
                    Ok(Err(e)) if is_temporary(&e) => {
                        self.retry_or_fail(entry, attempts, send_error_json(&e))
                    }
                    Ok(Err(e)) => self.failed(entry, attempts, send_error_json(&e)),
                    Err(e) => self.after_call_error(entry, attempts, e)?,
                }
            }
        };
        if let (OutboxState::Sent, Some(message)) = (update.state, replied) {
            // Queued behind this entry: a crash before it is queued leaves the reply's entry
            // sending, and its next attempt (finding the copy in Sent) comes here again.
            let key = format!("answered/{}", entry.id);
            match self.queue_answered(&key, message).await {
                Ok(_) | Err(QueueError::MessageUnknown(_)) => {}
                Err(QueueError::Call(e)) => return Err(e),
                Err(e) => {
                    return Err(CallError::Host {
                        message: format!("the reply's message cannot be marked answered: {e}"),
                    });
                }
            }
        }
        Ok(update)
    }

    /// The entry's draft, unsealed and read as `T`; `None` when it is gone or cannot be read
    /// (the entry then fails). A store that fails now is the caller's error: tried again later.
    pub(crate) async fn stored_draft<T: serde::de::DeserializeOwned>(
        &self,
        entry: &OutboxEntry,
    ) -> Result<Option<T>, CallError> {
        let (id, entry_id) = (self.id.clone(), entry.id.clone());
        let bytes = self
            .host
            .shared()
            .db
            .run_blocking(move |db| db.outbox_draft(&id, &entry_id))
            .await?;
        Ok(bytes.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// The update after the call itself failed (a trap, the budget, the host): tried again
    /// later, as a temporary failure; a turn lost stops the run instead, writing nothing.
    pub(crate) fn after_call_error(
        &self,
        entry: &OutboxEntry,
        attempts: u32,
        error: CallError,
    ) -> Result<OutboxUpdate, CallError> {
        if let CallError::TurnLost = error {
            return Err(CallError::TurnLost);
        }
        Ok(self.retry_or_fail(
            entry,
            attempts,
            serde_json::json!({ "kind": "call", "detail": error.to_string() }),
        ))
    }

    pub(crate) fn retry_or_fail(
        &self,
        entry: &OutboxEntry,
        attempts: u32,
        error: serde_json::Value,
    ) -> OutboxUpdate {
        if attempts >= MAX_ATTEMPTS {
            return self.failed(entry, attempts, error);
        }
        let now_ms = self.now_ms();
        OutboxUpdate {
            state: OutboxState::Queued,
            attempts,
            next_attempt_ms: now_ms + retry_delay_ms(attempts, retry_jitter()),
            outcome: Some(error),
            now_ms,
            event: None,
        }
    }

    pub(crate) fn failed(
        &self,
        entry: &OutboxEntry,
        attempts: u32,
        error: serde_json::Value,
    ) -> OutboxUpdate {
        let now_ms = self.now_ms();
        OutboxUpdate {
            state: OutboxState::Failed,
            attempts,
            next_attempt_ms: now_ms,
            event: Some((
                match entry.kind {
                    OutboxKind::Send => "send.failed",
                    OutboxKind::Action => "action.failed",
                },
                serde_json::json!({
                    "entry": entry.id,
                    "idempotency_key": entry.idempotency_key,
                    "message_id": entry.message_id,
                    "error": error,
                }),
            )),
            outcome: Some(error),
            now_ms,
        }
    }

    async fn update(&self, entry: &str, update: OutboxUpdate) -> Result<(), CallError> {
        let (id, entry) = (self.id.clone(), entry.to_string());
        Ok(self
            .host
            .shared()
            .db
            .run_blocking(move |db| db.outbox_update(&id, &entry, &update))
            .await?)
    }
}

enum Step {
    Empty,
    Waiting(i64),
    Worked(OutboxEntry),
}

/// A number in 0.0..1.0 that spreads retries.
fn retry_jitter() -> f64 {
    use aes_gcm::aead::rand_core::RngCore;
    f64::from(aes_gcm::aead::OsRng.next_u32()) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(to: &[&str]) -> SendRequest {
        SendRequest {
            to: to
                .iter()
                .map(|a| Recipient::Address(a.to_string()))
                .collect(),
            subject: "Hi".into(),
            text: "Hello".into(),
            ..SendRequest::default()
        }
    }

    #[test]
    fn a_request_needs_a_recipient_plain_addresses_and_room() {
        assert!(check_request(&request(&["a@example.nl"]), 100, 1000).is_ok());
        assert!(matches!(
            check_request(&request(&[]), 100, 1000),
            Err(QueueError::NoRecipient)
        ));
        for bad in [
            "nobody",
            "a@b@c",
            "a b@c.nl",
            "a@c.nl>",
            "a@c.nl,b@d.nl",
            "x@y\r\nz.nl",
        ] {
            assert!(
                matches!(
                    check_request(&request(&[bad]), 100, 1000),
                    Err(QueueError::BadAddress(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            check_request(&request(&["a@x.nl", "b@x.nl", "c@x.nl"]), 2, 1000),
            Err(QueueError::TooManyRecipients { count: 3, limit: 2 })
        ));
        let mut big = request(&["a@x.nl"]);
        big.attachments.push(RequestAttachment {
            filename: "a.bin".into(),
            mime_type: octet_stream(),
            content: vec![0; 900],
        });
        assert!(matches!(
            check_request(&big, 100, 1000),
            Err(QueueError::TooLarge {
                size: 1205,
                limit: 1000
            })
        ));
    }

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(checked_key("order-17/reply").is_ok());
        assert!(checked_key("").is_err());
        assert!(checked_key("two words").is_err());
        assert!(checked_key("ключ").is_err());
        assert!(checked_key(&"k".repeat(MAX_KEY_CHARS + 1)).is_err());
    }

    #[test]
    fn the_same_request_has_the_same_digest_and_another_does_not() {
        let a = request(&["a@x.nl"]);
        assert_eq!(digest(&a), digest(&a.clone()));
        let mut b = a.clone();
        b.text.push('!');
        assert_ne!(digest(&a), digest(&b));
    }

    #[test]
    fn a_request_reads_from_json_with_base64_attachments_and_named_recipients() {
        let json = r#"{"to": ["a@x.nl", {"name": "Bea", "address": "b@x.nl"}],
            "subject": "S", "text": "T",
            "attachments": [{"filename": "a.txt", "content": "aGk="}], "reply_to": 7}"#;
        let r: SendRequest = serde_json::from_str(json).expect("reads");
        assert_eq!(r.to[1].to_wit().name.as_deref(), Some("Bea"));
        assert_eq!(r.attachments[0].content, b"hi");
        assert_eq!(r.attachments[0].mime_type, "application/octet-stream");
        assert_eq!(r.reply_to, Some(7));
        assert!(serde_json::from_str::<SendRequest>(r#"{"to": [], "from": "x@y"}"#).is_err());
        assert!(
            serde_json::from_str::<SendRequest>(
                r#"{"attachments": [{"filename": "a", "content": "***"}]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn a_reply_takes_its_threading_from_the_stored_record() {
        let record = r#"{"record": {"message_id": "m1@x", "references": ["m0@x"],
            "subject": "Vacature"}}"#;
        let replied = replied_from_record(record).expect("reads");
        assert_eq!(replied.message_id, "m1@x");
        assert_eq!(replied.references, vec!["m0@x".to_string()]);
        assert_eq!(replied.subject.as_deref(), Some("Vacature"));
        assert!(replied_from_record(r#"{"record": {}}"#).is_none());
    }

    #[test]
    fn dates_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(1_796_635_200_000), "2026-12-07T09:20:00Z");
    }
}
