//! Messages whose last place went: moved to a folder not looked at yet, or gone. A sync removes
//! one only once a whole pass, begun after it went, finds it nowhere; so a move is never a removal.

use crate::bindings::sync::{FolderReport, SyncReport};
use crate::capabilities::inbox::folder_index;

/// Counts messages removed after a pass (`(id, CRM folder)` from the store) in the report: each
/// as removed from the first folder of the report that maps to the CRM folder it was in.
pub fn count_removed(report: &mut SyncReport, removed: &[(i64, u8)]) {
    for &(_, folder) in removed {
        let shown = report
            .folders
            .iter()
            .position(|f| folder_index(f.crm_folder) == folder)
            .unwrap_or(0);
        if let Some(f) = report.folders.get_mut(shown) {
            f.removed += 1;
        }
    }
}

/// Adds a second pass's report to the first: counts per remote folder, and the time and
/// commands; complete only if both were.
pub fn merge(first: &mut SyncReport, second: SyncReport) {
    for folder in second.folders {
        match first
            .folders
            .iter_mut()
            .find(|f| f.remote_folder == folder.remote_folder)
        {
            Some(f) => add(f, folder),
            None => first.folders.push(folder),
        }
    }
    first.complete &= second.complete;
    first.imap_commands += second.imap_commands;
    first.millis += second.millis;
}

fn add(into: &mut FolderReport, more: FolderReport) {
    into.created += more.created;
    into.updated += more.updated;
    into.removed += more.removed;
    into.skipped += more.skipped;
    into.truncated += more.truncated;
    into.bytes += more.bytes;
    into.uid_validity_reset |= more.uid_validity_reset;
    into.millis += more.millis;
    if more.error.is_some() {
        into.error = more.error;
    }
}
