//! The records of a fixed set of messages never change unnoticed: the test corpus, realistic
//! generated mail and damaged transfer encodings, against digests stored when they were right.
//! (`normalize_in_component` holds the component to the native records of the same set.)

use sha2::{Digest, Sha256};

const MAILBOX: &str = "bob@crm-customer.nl";
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/records.sha256");
const INTERNAL_DATE: Option<i64> = Some(1_700_000_000);

fn native(bytes: &[u8]) -> plugin::MessageRecord {
    plugin::normalize(
        &plugin::RawMessage {
            bytes,
            internal_date: INTERNAL_DATE,
        },
        MAILBOX,
    )
}

fn digest(record: &plugin::MessageRecord) -> String {
    let d = Sha256::digest(format!("{record:?}").as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// `GOLDEN_UPDATE=1` writes the digests anew; do that only for a change meant to alter records.
#[test]
fn native_records_match_the_stored_digests() {
    let lines: Vec<String> = tests::realistic::golden_set()
        .iter()
        .map(|(name, bytes)| format!("{} {name}", digest(&native(bytes))))
        .collect();
    let actual = lines.join("\n") + "\n";
    if std::env::var_os("GOLDEN_UPDATE").is_some() {
        std::fs::write(GOLDEN, &actual).expect("write the golden digests");
        return;
    }
    let expected = std::fs::read_to_string(GOLDEN).expect("tests/golden/records.sha256");
    let changed: Vec<&str> = expected
        .lines()
        .zip(actual.lines())
        .filter(|(e, a)| e != a)
        .map(|(_, a)| a)
        .take(10)
        .collect();
    assert!(
        changed.is_empty() && expected.lines().count() == actual.lines().count(),
        "records changed ({} expected, {} now); first changed: {changed:#?}",
        expected.lines().count(),
        actual.lines().count()
    );
}
