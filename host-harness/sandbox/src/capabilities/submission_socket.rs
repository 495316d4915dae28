//! `submission-socket`: the SMTP submission server, lent to a `send` call only, for the one
//! message the platform asked it to send. The host checks the grant, and reads the envelope.

use wasmtime::component::Resource;

use crate::bindings::submission_socket::{
    self, EnvelopeRefusal as WitRefusal, Security, SubmissionError,
};
use crate::capabilities::connect::{ConnectFailure, connect};
use crate::capabilities::{size_cap, wit_refusal};
use crate::policy::ImapSecurity;
use crate::resources::envelope::EnvelopeRefusal;
use crate::resources::imap_connection::{ConnectionError, Protocol};
use crate::resources::submission::SubmissionConnection;
use crate::state::HostState;

/// Submission connections one `send` call may open (one, and one again after a failure).
pub const SUBMISSION_CONNECTIONS_PER_CALL: u32 = 2;

impl submission_socket::Host for HostState {
    async fn open(
        &mut self,
        host: String,
        port: u16,
        security: Security,
    ) -> wasmtime::Result<Result<Resource<SubmissionConnection>, SubmissionError>> {
        if self.send_grant.is_none() {
            return Ok(Err(SubmissionError::NotLent));
        }
        if self.submission_connections >= SUBMISSION_CONNECTIONS_PER_CALL {
            return Ok(Err(SubmissionError::InvalidState(format!(
                "a send call may open {SUBMISSION_CONNECTIONS_PER_CALL} submission connections"
            ))));
        }
        let provider = self.provider().await?;
        let asked = match security {
            Security::Tls => ImapSecurity::Tls,
            Security::Starttls => ImapSecurity::StartTls,
            Security::Plain => ImapSecurity::Plain,
        };
        let checked =
            self.shared
                .platform()
                .policy
                .check_submission(provider.as_deref(), &host, port, asked);
        let dest = match checked {
            Ok(dest) => dest,
            Err(r) => return Ok(Err(SubmissionError::Refused(wit_refusal(r)))),
        };
        match connect(&self.shared, &dest, asked, Protocol::Smtp).await {
            Ok(conn) => {
                self.submission_connections += 1;
                Ok(Ok(self.table.push(SubmissionConnection::new(conn))?))
            }
            Err(e) => Ok(Err(match e {
                ConnectFailure::Refused(r) => SubmissionError::Refused(wit_refusal(r)),
                ConnectFailure::ResolveFailed(m) => SubmissionError::ResolveFailed(m),
                ConnectFailure::TimedOut => SubmissionError::TimedOut,
                ConnectFailure::ConnectFailed(m) => SubmissionError::ConnectFailed(m),
                ConnectFailure::Connection(e) => submission_error(e),
            })),
        }
    }
}

fn submission_error(e: ConnectionError) -> SubmissionError {
    match e {
        ConnectionError::InvalidState(m) | ConnectionError::ReadOnly(m) => {
            SubmissionError::InvalidState(m)
        }
        ConnectionError::TimedOut => SubmissionError::TimedOut,
        ConnectionError::Closed => SubmissionError::Closed,
        ConnectionError::TlsFailed(m) => SubmissionError::TlsFailed(m),
        ConnectionError::Io(m) => SubmissionError::Io(m),
        ConnectionError::TooLarge { limit, actual } => {
            SubmissionError::TooLarge(size_cap(limit, actual))
        }
    }
}

fn wit_envelope(r: EnvelopeRefusal) -> WitRefusal {
    match r {
        EnvelopeRefusal::SenderNotLinked(a) => WitRefusal::SenderNotLinked(a),
        EnvelopeRefusal::RecipientNotInDraft(a) => WitRefusal::RecipientNotInDraft(a),
        EnvelopeRefusal::TooManyRecipients { limit, actual } => {
            WitRefusal::TooManyRecipients(size_cap(limit, actual))
        }
        EnvelopeRefusal::MessageTooLarge { limit, actual } => {
            WitRefusal::MessageTooLarge(size_cap(limit, actual))
        }
        EnvelopeRefusal::SecondMessage => WitRefusal::SecondMessage,
        EnvelopeRefusal::Command(c) => WitRefusal::Command(c),
    }
}

impl submission_socket::HostConnection for HostState {
    async fn read(
        &mut self,
        conn: Resource<SubmissionConnection>,
        max_bytes: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, SubmissionError>> {
        let c = self.table.get_mut(&conn)?;
        let read = c.conn.read(max_bytes).await;
        if let Ok(bytes) = &read {
            c.guard.observe(&mut c.replies, bytes);
        }
        Ok(read.map_err(submission_error))
    }

    async fn write(
        &mut self,
        conn: Resource<SubmissionConnection>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), SubmissionError>> {
        let Some(grant) = self.send_grant.as_mut() else {
            return Ok(Err(SubmissionError::NotLent));
        };
        let c = self.table.get_mut(&conn)?;
        if let Err(refusal) = c.guard.check(&data, grant) {
            return Ok(Err(SubmissionError::Envelope(wit_envelope(refusal))));
        }
        Ok(c.conn.write(&data).await.map_err(submission_error))
    }

    async fn start_tls(
        &mut self,
        conn: Resource<SubmissionConnection>,
    ) -> wasmtime::Result<Result<(), SubmissionError>> {
        let tls = self.shared.tls.clone();
        let upgraded = self.table.get_mut(&conn)?.conn.upgrade(tls).await;
        Ok(upgraded.map_err(submission_error))
    }

    async fn close(&mut self, conn: Resource<SubmissionConnection>) -> wasmtime::Result<()> {
        self.table.get_mut(&conn)?.conn.close();
        Ok(())
    }

    async fn drop(&mut self, conn: Resource<SubmissionConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}
