//! `normalizer`: messages a sync call hands to other instances of the plugin
//! (`normalize_workers`); lent to sync and watch calls only, a no to every other call.

use crate::bindings::message::MessageRecord;
use crate::bindings::normalizer::{self, Job, JobFailure};
use crate::state::HostState;

impl normalizer::Host for HostState {
    async fn submit(&mut self, ticket: u64, job: Job) -> wasmtime::Result<bool> {
        Ok(match self.normalize_workers.as_mut() {
            Some(workers) => workers.submit(ticket, job).await,
            None => false,
        })
    }

    async fn finished(
        &mut self,
        wait: bool,
    ) -> wasmtime::Result<Vec<(u64, Result<MessageRecord, JobFailure>)>> {
        Ok(match self.normalize_workers.as_mut() {
            Some(workers) => workers.finished(wait).await,
            None => Vec::new(),
        })
    }
}
