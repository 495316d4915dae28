//! The guest's layers run one way: a module names (`crate::…`) only modules of lower layers, so
//! the vocabulary and the ports stay testable without the protocols and use cases above them.

use std::path::Path;

/// Lowest first; a module may use its own layer's code and any layer below, never above or beside.
const LAYERS: &[&[&str]] = &[
    &["record", "i18n"],
    &["model"],
    &["ports"],
    &["errors"],
    &["providers"],
    &["imap", "oauth", "normalize"],
    &["account"],
    &["folders"],
    &["sync"],
    &["glue"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level modules `source` names as `crate::<module>`.
fn named_modules(source: &str) -> Vec<String> {
    source
        .match_indices("crate::")
        .map(|(at, found)| {
            source[at + found.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for layer in LAYERS {
        for module in *layer {
            let mut files = Vec::new();
            let dir = src.join(module);
            if dir.is_dir() {
                rust_files(&dir, &mut files);
            }
            let file = src.join(format!("{module}.rs"));
            if file.is_file() {
                files.push(file);
            }
            assert!(!files.is_empty(), "module `{module}` has no source here");
            let own = layer_of(module).expect("listed");
            for path in files {
                let source = std::fs::read_to_string(&path).expect("read a source file");
                for named in named_modules(&source) {
                    checked += 1;
                    let allowed = named == *module || layer_of(&named).is_some_and(|l| l < own);
                    if !allowed {
                        let path = path.strip_prefix(&src).unwrap_or(&path).display();
                        wrong.push(format!("{path} names crate::{named}"));
                    }
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        checked > 100,
        "only {checked} names found: the scan is broken"
    );
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("read lib.rs");
    for line in lib.lines() {
        let declared = line
            .trim()
            .trim_start_matches("pub ")
            .strip_prefix("mod ")
            .map(|rest| rest.trim_end_matches(';'));
        if let Some(module) = declared {
            assert!(
                layer_of(module).is_some(),
                "`{module}` is in no layer of tests/layers.rs"
            );
        }
    }
}
