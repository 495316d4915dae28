//! The realistic mailbox of the benchmarks and the golden records: `tests/bench/seed.py` writes
//! deterministic messages (HTML, replies, charsets, attachments), read back here in order.

use std::path::Path;
use std::process::Command;

/// The generator, kept beside the tests so the corpus is the same on every machine.
pub const SEED_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/seed.py");

/// The day the generated messages' dates lead up to, fixed so the bytes never change.
pub const BASE_DATE: &str = "2026-11-01";

/// `count` messages from seed `seed`, in the generator's order (its file names sort in order).
pub fn messages(count: usize, seed: u64) -> anyhow::Result<Vec<Vec<u8>>> {
    let dir = tempfile::tempdir()?;
    dump(dir.path(), count, seed)?;
    read_dump(dir.path())
}

/// Writes `count` messages from seed `seed` to `dir`, one `.eml` file each.
pub fn dump(dir: &Path, count: usize, seed: u64) -> anyhow::Result<()> {
    let status = Command::new("python3")
        .arg(SEED_SCRIPT)
        .arg("--dump")
        .arg(dir)
        .args(["--count", &count.to_string(), "--seed", &seed.to_string()])
        .args(["--base-date", BASE_DATE])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| {
            anyhow::anyhow!("python3 is needed for the realistic corpus ({e}): `apt-get install python3`, or run `make test`")
        })?;
    anyhow::ensure!(status.success(), "{SEED_SCRIPT} failed: {status}");
    Ok(())
}

/// The messages a `dump` wrote to `dir`, in file-name order.
pub fn read_dump(dir: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).map_err(Into::into))
        .collect()
}

/// The set whose records are held fixed (`tests/golden/records.sha256`): the test corpus, the
/// damaged transfer encodings of `encoding_cases`, and 400 realistic messages of seed 3, named.
pub fn golden_set() -> Vec<(String, Vec<u8>)> {
    let mut named: Vec<(String, Vec<u8>)> = test_corpus()
        .into_iter()
        .map(|(name, bytes)| (format!("corpus/{name}"), bytes))
        .collect();
    for (i, m) in crate::encoding_cases::messages().into_iter().enumerate() {
        named.push((format!("case/{i}"), m));
    }
    let realistic = messages(400, 3).expect("the realistic corpus");
    for (i, m) in realistic.into_iter().enumerate() {
        named.push((format!("seed3/{i:04}"), m));
    }
    named
}

/// `tests/corpus`, each message named by its file, in file-name order.
pub fn test_corpus() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus directory")
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&p).expect("corpus file"))
        })
        .collect()
}
