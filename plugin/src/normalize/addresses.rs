//! Address headers: From, Sender, Reply-To, To, Cc, Bcc as flat lists of {name, address}, groups
//! flattened, domains lower-cased; and the direction of a message relative to the mailbox.

use mail_parser::{Addr, Address, HeaderName, Message};

use crate::record::{Direction, MailboxAddress, ParseWarning};

pub struct Participants {
    pub from: Vec<MailboxAddress>,
    pub sender: Vec<MailboxAddress>,
    pub reply_to: Vec<MailboxAddress>,
    pub to: Vec<MailboxAddress>,
    pub cc: Vec<MailboxAddress>,
    pub bcc: Vec<MailboxAddress>,
}

impl Participants {
    pub fn read(message: &Message<'_>, warnings: &mut Vec<ParseWarning>) -> Self {
        let mut list =
            |header: HeaderName<'static>, name: &str| address_list(message, header, name, warnings);
        let people = Participants {
            from: list(HeaderName::From, "From"),
            sender: list(HeaderName::Sender, "Sender"),
            reply_to: list(HeaderName::ReplyTo, "Reply-To"),
            to: list(HeaderName::To, "To"),
            cc: list(HeaderName::Cc, "Cc"),
            bcc: list(HeaderName::Bcc, "Bcc"),
        };
        if message.header(HeaderName::From).is_none() {
            warnings.push(ParseWarning::MissingFrom);
        }
        people
    }

    /// Outbound when the mailbox itself wrote the message (From, or Sender on its behalf).
    pub fn direction(&self, mailbox_address: &str) -> Direction {
        let own = canonical(mailbox_address);
        let written_by_mailbox = self
            .from
            .iter()
            .chain(&self.sender)
            .any(|a| canonical(&a.address) == own);
        if written_by_mailbox && !own.is_empty() {
            Direction::Outbound
        } else {
            Direction::Inbound
        }
    }
}

/// Every address of every occurrence of one header; a header that is present but yields no
/// readable address is reported.
fn address_list(
    message: &Message<'_>,
    header: HeaderName<'static>,
    header_name: &str,
    warnings: &mut Vec<ParseWarning>,
) -> Vec<MailboxAddress> {
    let mut out = Vec::new();
    let mut unreadable = false;
    for value in message.header_values(header) {
        let Some(address) = value.as_address() else {
            unreadable = true;
            continue;
        };
        let addrs: Vec<&Addr<'_>> = match address {
            Address::List(list) => list.iter().collect(),
            Address::Group(groups) => groups.iter().flat_map(|g| g.addresses.iter()).collect(),
        };
        for addr in addrs {
            match normalize_addr(addr) {
                Some(a) => out.push(a),
                None => unreadable = true,
            }
        }
    }
    if unreadable {
        warnings.push(ParseWarning::MalformedAddress(header_name.to_string()));
    }
    out
}

fn normalize_addr(addr: &Addr<'_>) -> Option<MailboxAddress> {
    let address = addr.address()?.trim();
    let (local, domain) = address.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    let name = addr
        .name()
        .map(|n| n.trim().trim_matches('"').trim())
        .filter(|n| !n.is_empty() && *n != address)
        .map(str::to_string);
    Some(MailboxAddress {
        name,
        address: format!("{local}@{}", domain.to_lowercase()),
    })
}

/// Addresses compare case-insensitively as a whole: providers treat local parts that way too.
fn canonical(address: &str) -> String {
    address.trim().to_lowercase()
}
