//! The CRM's inbox in memory: what it holds by location, every call it was made, and a judge
//! that can refuse a record by what it holds, to test how sync isolates one bad message.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::model::{
    Change, ChangeReport, Delivery, DeliveryReport, InboxFailure, Location, Progress,
};
use crate::ports::Inbox;

type Judge = Box<dyn Fn(&Delivery) -> Option<InboxFailure>>;

/// Each call all or nothing, like the real inbox: a batch with one judged record stores none.
#[derive(Default)]
pub struct FakeInbox {
    /// What the inbox holds, by (folder, UIDVALIDITY, UID).
    pub held: RefCell<BTreeMap<(String, u32, u32), Delivery>>,
    /// The UIDs of every `deliver` call, in order, with whether it was accepted.
    pub calls: RefCell<Vec<(Vec<u32>, bool)>>,
    pub progress: RefCell<Vec<Progress>>,
    /// Every change applied, in order.
    pub changes: RefCell<Vec<Change>>,
    /// Every call in order, as `deliver <folder>` or `apply <folder>` (of its first record or
    /// change), accepted or not.
    pub events: RefCell<Vec<String>>,
    /// Fails every `apply` (the inbox itself, not the changes).
    pub fail_apply: Cell<bool>,
    judge: Option<Judge>,
}

fn key(l: &Location) -> (String, u32, u32) {
    (l.remote_folder.clone(), l.uid_validity, l.uid)
}

fn folder_of(change: &Change) -> &str {
    match change {
        Change::FlagsChanged(l, _) | Change::Vanished(l) => &l.remote_folder,
        Change::FolderReset(folder, _) => folder,
        Change::Present { remote_folder, .. } => remote_folder,
    }
}

impl FakeInbox {
    /// An inbox that fails every call holding a record `judge` objects to.
    pub fn judged(judge: impl Fn(&Delivery) -> Option<InboxFailure> + 'static) -> Self {
        FakeInbox {
            judge: Some(Box::new(judge)),
            ..FakeInbox::default()
        }
    }

    /// The UIDs held, in (folder, UIDVALIDITY, UID) order.
    pub fn uids(&self) -> Vec<u32> {
        self.held.borrow().keys().map(|(_, _, uid)| *uid).collect()
    }

    /// The delivery held for `uid` (in any folder).
    pub fn get(&self, uid: u32) -> Option<Delivery> {
        let held = self.held.borrow();
        held.iter()
            .find(|(k, _)| k.2 == uid)
            .map(|(_, d)| d.clone())
    }
}

impl Inbox for FakeInbox {
    fn deliver(
        &self,
        batch: &[Delivery],
        progress: Progress,
    ) -> Result<DeliveryReport, InboxFailure> {
        let folder = batch.first().map_or("", |d| &d.location.remote_folder);
        self.events.borrow_mut().push(format!("deliver {folder}"));
        let uids = batch.iter().map(|d| d.location.uid).collect();
        let failure = self.judge.as_ref().and_then(|j| batch.iter().find_map(j));
        self.calls.borrow_mut().push((uids, failure.is_none()));
        if let Some(failure) = failure {
            return Err(failure);
        }
        self.progress.borrow_mut().push(progress);
        let mut report = DeliveryReport::default();
        let mut held = self.held.borrow_mut();
        for delivery in batch {
            match held.insert(key(&delivery.location), delivery.clone()) {
                None => report.created += 1,
                Some(old) if old.flags != delivery.flags => report.updated += 1,
                Some(_) => report.unchanged += 1,
            }
        }
        Ok(report)
    }

    fn apply(&self, changes: Vec<Change>) -> Result<ChangeReport, InboxFailure> {
        let folder = changes.first().map_or("", folder_of);
        self.events.borrow_mut().push(format!("apply {folder}"));
        if self.fail_apply.get() {
            return Err(InboxFailure {
                refused_content: false,
                message: "the inbox is down".into(),
            });
        }
        let mut report = ChangeReport::default();
        let mut held = self.held.borrow_mut();
        let before = held.len();
        for change in &changes {
            match change {
                Change::FlagsChanged(location, flags) => match held.get_mut(&key(location)) {
                    Some(d) if d.flags != *flags => {
                        d.flags = *flags;
                        report.updated += 1;
                    }
                    Some(_) => {}
                    None => report.unknown += 1,
                },
                Change::Vanished(location) => {
                    if held.remove(&key(location)).is_none() {
                        report.unknown += 1;
                    }
                }
                Change::FolderReset(folder, validity) => {
                    held.retain(|(f, v, _), _| f != folder || v == validity);
                }
                Change::Present {
                    remote_folder,
                    uid_validity,
                    up_to,
                    uids,
                } => held.retain(|(f, v, uid), _| {
                    f != remote_folder || v != uid_validity || uid > up_to || uids.contains(uid)
                }),
            }
        }
        report.removed = (before - held.len()) as u32;
        self.changes.borrow_mut().extend(changes);
        Ok(report)
    }
}
