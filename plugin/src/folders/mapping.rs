//! The saved mapping and the folders last listed, in storage; validation of a mapping against
//! the server's folders: each names an existing, selectable folder, and no folder serves two.

use serde::{Deserialize, Serialize};

use super::FolderMapping;
use crate::errors::{MappingProblem, MappingProblemKind};
use crate::imap::RemoteFolder;

pub const MAPPING_KEY: &str = "folders/mapping";
pub const LISTED_KEY: &str = "folders/listed";

/// The folders as last listed, and when.
#[derive(Serialize, Deserialize)]
pub struct Listed {
    pub at: i64,
    pub folders: Vec<RemoteFolder>,
}

/// What no longer holds (or would not hold) in `mapping` against `folders`.
pub fn problems(mapping: &FolderMapping, folders: &[RemoteFolder]) -> Vec<MappingProblem> {
    let mut problems = Vec::new();
    let entries = mapping.entries();
    for (i, (crm_folder, remote)) in entries.iter().enumerate() {
        let Some(remote) = remote else { continue };
        let problem = |kind| MappingProblem {
            crm_folder: crm_folder.name().to_string(),
            remote: remote.to_string(),
            kind,
        };
        match folders.iter().find(|f| f.name == *remote) {
            None => problems.push(problem(MappingProblemKind::Missing)),
            Some(f) if !f.selectable => problems.push(problem(MappingProblemKind::NotSelectable)),
            Some(_) => {}
        }
        if entries[..i]
            .iter()
            .any(|(_, other)| other == &Some(*remote))
        {
            problems.push(problem(MappingProblemKind::UsedTwice));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str, selectable: bool) -> RemoteFolder {
        RemoteFolder {
            name: name.into(),
            delimiter: Some('/'),
            special_use: vec![],
            selectable,
        }
    }

    #[test]
    fn missing_unselectable_and_doubly_used_folders_are_each_reported() {
        let folders = [
            folder("INBOX", true),
            folder("[Gmail]", false),
            folder("Trash", true),
        ];
        let mapping = FolderMapping {
            inbox: Some("INBOX".into()),
            archive: Some("[Gmail]".into()),
            deleted: Some("Trash".into()),
            sent: Some("Trash".into()),
        };
        let kinds: Vec<(String, MappingProblemKind)> = problems(&mapping, &folders)
            .into_iter()
            .map(|p| (p.crm_folder, p.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("archive".to_string(), MappingProblemKind::NotSelectable),
                ("deleted".to_string(), MappingProblemKind::UsedTwice)
            ]
        );
        let gone = FolderMapping {
            inbox: Some("Old".into()),
            ..Default::default()
        };
        assert_eq!(
            problems(&gone, &folders)[0].kind,
            MappingProblemKind::Missing
        );
    }
}
