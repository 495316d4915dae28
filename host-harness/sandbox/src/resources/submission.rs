//! A submission connection the plugin holds in a `send` call: a connection like IMAP's, whose
//! writes keep to the call's envelope rules and whose replies tell the rules where it stands.

use smtp_proto::response::parser::ResponseReceiver;

use crate::resources::envelope::EnvelopeGuard;
use crate::resources::imap_connection::Connection;

/// The host's side of a `submission-socket.connection`.
pub struct SubmissionConnection {
    pub conn: Connection,
    pub guard: EnvelopeGuard,
    pub replies: ResponseReceiver,
}

impl SubmissionConnection {
    pub fn new(conn: Connection) -> Self {
        SubmissionConnection {
            conn,
            guard: EnvelopeGuard::default(),
            replies: ResponseReceiver::default(),
        }
    }
}
