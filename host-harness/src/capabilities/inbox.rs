//! `inbox`: delivery of normalised messages to the CRM's inbox table, idempotent on each record's
//! dedupe key (per mailbox), all of a batch or none of it.

use crate::bindings::inbox::{self, DeliveryReport, InboxError};
use crate::bindings::message::{Direction, MessageRecord};
use crate::capabilities::size_cap;
use crate::db::InboxRow;
use crate::state::HostState;

impl inbox::Host for HostState {
    async fn deliver(
        &mut self,
        batch: Vec<MessageRecord>,
    ) -> wasmtime::Result<Result<DeliveryReport, InboxError>> {
        let cap = self.services.policy.inbox_batch_cap_bytes;
        let mut rows = Vec::with_capacity(batch.len());
        let mut total = 0u64;
        for record in &batch {
            if record.dedupe_key.trim().is_empty() {
                return Ok(Err(InboxError::InvalidRecord(
                    "a record has an empty dedupe key".into(),
                )));
            }
            let record_json = serde_json::to_string(record)?;
            total += record_json.len() as u64;
            if total > cap {
                return Ok(Err(InboxError::TooLarge(size_cap(cap, total))));
            }
            rows.push(InboxRow {
                dedupe_key: record.dedupe_key.clone(),
                message_id: record.message_id.clone(),
                subject: record.subject.clone(),
                date_utc: record.date.utc.clone(),
                direction: match record.direction {
                    Direction::Inbound => "inbound",
                    Direction::Outbound => "outbound",
                }
                .into(),
                record_json,
            });
        }
        let db = self.services.db.clone();
        let mailbox = self.mailbox.id.clone();
        let outcome = db
            .run_blocking(move |db| db.inbox_deliver(&mailbox, &rows))
            .await;
        Ok(outcome
            .map(|(delivered, already_present)| DeliveryReport {
                delivered,
                already_present,
            })
            .map_err(InboxError::Unavailable))
    }
}
