//! The `act` export: the WIT action and target to the domain's, and the domain's receipt to the
//! WIT one or a typed error with its message in English and Dutch.

use super::Component;
use super::bindings::crm::mail_sync::{inbox, message as wit_message};
use super::bindings::exports::crm::mail_sync::act as wit;
use super::host::{flags, location, with_env};
use super::mailbox::{error, message};
use crate::act as domain;
use crate::i18n::UserMessage;
use crate::model::{CrmFolder, Flags, Location};

impl wit::Guest for Component {
    fn act(
        target: wit::Target,
        action: wit::Action,
    ) -> Result<wit::ActionReceipt, wit::ActionError> {
        let target = domain::Target {
            message_id: target.message_id,
            places: target.places.into_iter().map(seen_at).collect(),
            gmail_message_id: target.gmail_message_id,
        };
        let action = match action {
            wit::Action::Seen(on) => domain::Action::Seen(on),
            wit::Action::Flagged(on) => domain::Action::Flagged(on),
            wit::Action::Answered => domain::Action::Answered,
            wit::Action::MoveTo(folder) => domain::Action::MoveTo(crm_folder(folder)),
        };
        with_env(|env| {
            let receipt = domain::act(env, &target, action).map_err(act_error)?;
            Ok(wit::ActionReceipt {
                outcome: match receipt.outcome {
                    domain::Outcome::Applied => wit::ActionOutcome::Applied,
                    domain::Outcome::Already => wit::ActionOutcome::Already,
                    domain::Outcome::Superseded => wit::ActionOutcome::Superseded,
                },
                now_at: receipt
                    .now_at
                    .into_iter()
                    .map(|p| wit::SeenAt {
                        location: location(p.location),
                        flags: flags(p.flags),
                    })
                    .collect(),
            })
        })
    }
}

fn seen_at(p: wit::SeenAt) -> domain::SeenAt {
    domain::SeenAt {
        location: Location {
            remote_folder: p.location.remote_folder,
            uid_validity: p.location.uid_validity,
            uid: p.location.uid,
        },
        flags: domain_flags(p.flags),
    }
}

fn domain_flags(f: inbox::MessageFlags) -> Flags {
    Flags {
        seen: f.seen,
        answered: f.answered,
        flagged: f.flagged,
        draft: f.draft,
    }
}

fn crm_folder(f: wit_message::CrmFolder) -> CrmFolder {
    match f {
        wit_message::CrmFolder::Inbox => CrmFolder::Inbox,
        wit_message::CrmFolder::Sent => CrmFolder::Sent,
        wit_message::CrmFolder::Archive => CrmFolder::Archive,
        wit_message::CrmFolder::Deleted => CrmFolder::Deleted,
    }
}

fn said(
    key: &'static str,
    params: Vec<(&'static str, String)>,
) -> super::bindings::exports::crm::mail_sync::mailbox::UserMessage {
    message(UserMessage::new(key, params))
}

fn act_error(f: domain::ActFailure) -> wit::ActionError {
    use domain::ActFailure as F;
    match f {
        F::Mailbox(e) => wit::ActionError::Mailbox(error(e)),
        F::Gone => wit::ActionError::Gone(said("act.gone", vec![])),
        F::NotMapped(folder) => wit::ActionError::NotMapped(said(
            "act.not_mapped",
            vec![("folder", folder.name().to_string())],
        )),
        F::Refused(reply) => wit::ActionError::Refused(said("act.refused", vec![("reply", reply)])),
        F::Temporary(why) => wit::ActionError::Temporary(said("act.temporary", vec![("why", why)])),
    }
}
