//! The capabilities the host lends the plugin, one file each: the WIT imports' host side.
//! Each checks the policy and limits itself before it touches the outside world.

pub mod config;
pub mod connect;
pub mod http_client;
pub mod imap_parking;
pub mod imap_socket;
pub mod imap_socket_v0_1;
pub mod inbox;
pub mod log;
pub mod normalizer;
pub mod resolve;
pub mod storage;
pub mod submission_socket;

use crate::bindings::{capability_types, message};
use crate::policy::{Refusal, RefusalReason};
use crate::state::HostState;

impl capability_types::Host for HostState {}
impl message::Host for HostState {}

/// The WIT form of a policy refusal.
pub fn wit_refusal(r: Refusal) -> capability_types::Refusal {
    use capability_types::RefusalReason as W;
    capability_types::Refusal {
        destination: r.destination,
        reason: match r.reason {
            RefusalReason::InvalidDestination => W::InvalidDestination,
            RefusalReason::NotAllowed => W::NotAllowed,
            RefusalReason::PlainTransport => W::PlainTransport,
            RefusalReason::RefusedAddress => W::RefusedAddress,
            RefusalReason::UserinfoInUrl => W::UserinfoInUrl,
            RefusalReason::ForbiddenHeader => W::ForbiddenHeader,
        },
    }
}

pub fn size_cap(limit: u64, actual: u64) -> capability_types::SizeCap {
    capability_types::SizeCap { limit, actual }
}
