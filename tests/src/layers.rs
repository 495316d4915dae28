//! The layering checks of the guest's and the host's sources: each top-level module names
//! (`crate::…`) only modules of lower layers, and no two modules of one folder name each other,
//! directly or round a circle. Read from the source text, so a test fails on the import itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first; a module may use its own code and any layer below, never above or beside.
pub type Layers<'a> = &'a [&'a [&'a str]];

/// The `.rs` files under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// `source` without its line comments (a comment may mention any module).
fn code_of(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The first segments of every path `code` names after `prefix` (`crate::`, `super::`): each
/// `prefix name`, and each name in a `prefix{a, b::c}` list.
fn named_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, found) in code.match_indices(prefix) {
        let rest = &code[at + found.len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = &list[..list.find('}').unwrap_or(list.len())];
            for item in list.split(',') {
                names.insert(identifier(item.trim()));
            }
        } else {
            names.insert(identifier(rest));
        }
    }
    names.remove("");
    names
}

/// The modules of folder `dir` (whose module path is `module_path`, empty at the crate's root)
/// that the code of `path`, a file under `dir`, names: as `super::…` climbed up to `dir`, or as
/// `crate::<module_path>::…`.
fn names_in_folder(dir: &Path, module_path: &str, path: &Path, code: &str) -> BTreeSet<String> {
    // A file of `dir` reaches its siblings as `super::`; one a folder deeper, as
    // `super::super::`; a folder's `mod.rs` is one level up from its siblings.
    let depth = path
        .parent()
        .map_or(0, |p| p.strip_prefix(dir).map_or(0, |r| r.iter().count()));
    let is_mod_rs = path.file_name().is_some_and(|n| n == "mod.rs");
    let ups = depth + 1 - usize::from(is_mod_rs && depth > 0);
    let mut named = named_after(code, &"super::".repeat(ups));
    if module_path.is_empty() {
        named.extend(named_after(code, "crate::"));
    } else {
        named.extend(named_after(code, &format!("crate::{module_path}::")));
    }
    named
}

/// A module's files: `name.rs` and everything under `name/`.
fn files_of(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if dir.join(name).is_dir() {
        files = rust_files(&dir.join(name));
    }
    let file = dir.join(format!("{name}.rs"));
    if file.is_file() {
        files.push(file);
    }
    files
}

/// Imports against `layers` in the crate whose sources are in `src` (one line each), and how many
/// names were checked. Every top-level module of the crate must be in a layer; names that are no
/// module (an item, or a path inside a file's own test module) are not judged.
pub fn against_layers(src: &Path, layers: Layers) -> (Vec<String>, usize) {
    let layer_of = |module: &str| layers.iter().position(|layer| layer.contains(&module));
    let declared = top_level_modules(src);
    let is_module = |name: &str| declared.iter().any(|m| m == name) || layer_of(name).is_some();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for module in declared.iter().cloned() {
        let Some(own) = layer_of(&module) else {
            wrong.push(format!("`{module}` is in no layer"));
            continue;
        };
        for path in files_of(src, &module) {
            let code = code_of(&std::fs::read_to_string(&path).expect("read a source file"));
            for named in names_in_folder(src, "", &path, &code) {
                if !is_module(&named) {
                    continue;
                }
                checked += 1;
                let allowed = named == module || layer_of(&named).is_some_and(|l| l < own);
                if !allowed {
                    let path = path.strip_prefix(src).unwrap_or(&path).display();
                    wrong.push(format!("{path} names crate::{named}"));
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    (wrong, checked)
}

/// The modules `lib.rs` declares.
fn top_level_modules(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    lib.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line
                .strip_prefix("pub(crate) ")
                .or_else(|| line.strip_prefix("pub "))
                .unwrap_or(line);
            let module = line.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(module.to_string())
        })
        .collect()
}

/// Test code (`tests.rs`, `*_tests.rs`, `testing.rs`): it may reach any sibling of the code it
/// tests, so it is left out of the circles.
fn is_test_code(path: &Path) -> bool {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    stem == "tests" || stem == "testing" || stem.ends_with("_tests")
}

/// Every circle among sibling modules (the files and folders of one folder), one line each:
/// two siblings that import each other share a smaller type instead. Test code is left out.
pub fn sibling_circles(src: &Path) -> Vec<String> {
    let mut circles = Vec::new();
    let mut folders = vec![(src.to_path_buf(), String::new())];
    while let Some((dir, module_path)) = folders.pop() {
        let mut siblings = children(&dir);
        siblings.retain(|name| !is_test_code(Path::new(name)));
        let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for child in &siblings {
            let mut named = BTreeSet::new();
            for path in files_of(&dir, child) {
                if is_test_code(&path) {
                    continue;
                }
                let code = code_of(&std::fs::read_to_string(&path).expect("read a source file"));
                named.extend(names_in_folder(&dir, &module_path, &path, &code));
            }
            named.retain(|n| n != child && siblings.contains(n));
            uses.insert(child.clone(), named);
        }
        if let Some(circle) = a_circle(&uses) {
            let at = if module_path.is_empty() {
                "the crate's root".to_string()
            } else {
                module_path.replace('/', "::")
            };
            circles.push(format!("in {at}: {}", circle.join(" → ")));
        }
        for child in &siblings {
            if dir.join(child).is_dir() {
                let path = if module_path.is_empty() {
                    child.clone()
                } else {
                    format!("{module_path}::{child}")
                };
                folders.push((dir.join(child), path));
            }
        }
    }
    circles.sort();
    circles
}

/// The modules of a folder: its `.rs` files but `mod.rs`, `lib.rs` and `main.rs`, and its
/// sub-folders.
fn children(dir: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("read the source directory") {
        let path = entry.expect("a directory entry").path();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let module_file = path.extension().is_some_and(|e| e == "rs")
            && !["mod", "lib", "main"].contains(&stem.as_str());
        if path.is_dir() || module_file {
            names.insert(stem);
        }
    }
    names
}

/// One circle in `uses`, as the modules round it (the first one again at the end).
fn a_circle(uses: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        uses: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in uses.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, uses, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    uses.keys()
        .find_map(|start| visit(start, uses, &mut Vec::new(), &mut done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_from_paths_and_lists_but_not_comments() {
        let code = code_of(
            "use crate::{db, policy::Policy};\n// crate::service\nlet x = crate::limits::X;",
        );
        let named: Vec<_> = named_after(&code, "crate::").into_iter().collect();
        assert_eq!(named, ["db", "limits", "policy"]);
    }

    #[test]
    fn a_circle_is_found_and_a_chain_is_not() {
        let graph = |edges: &[(&str, &str)]| {
            let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (a, b) in edges {
                uses.entry(a.to_string()).or_default().insert(b.to_string());
                uses.entry(b.to_string()).or_default();
            }
            uses
        };
        assert_eq!(a_circle(&graph(&[("a", "b"), ("b", "c")])), None);
        assert_eq!(
            a_circle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
    }
}
