//! The plugin developer's CLI, run as a user runs it: `audit` lists every import with its grant,
//! `normalize` prints records as JSON lines or a summary, and bad input is a clear error.

use std::process::{Command, Output};

fn corpus(name: &str) -> String {
    format!("{}/../tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = std::env::temp_dir().join("mailsync-test-components");
    Command::new(env!("CARGO_BIN_EXE_mailsync-host"))
        .arg("--db")
        .arg(dir.path().join("cli.db"))
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .output()
        .expect("run mailsync-host")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

#[test]
fn audit_lists_every_import_and_export_with_a_grant() {
    let out = stdout(&run(&["audit"]));
    for expected in [
        "import  wasi:cli/environment@0.2.6",
        "linked, empty: no variables",
        "export  crm:mail-sync/normalize@0.2.0",
        "export  crm:mail-sync/mailbox@0.2.0",
        "memory cap 256 MiB",
        "import  crm:mail-sync/imap-socket@0.2.0",
        "export  crm:mail-sync/folders@0.2.0",
        "import  crm:mail-sync/inbox@0.2.0",
        "import  crm:mail-sync/normalizer@0.2.0",
        "sync and watch calls only: messages handed to other instances",
        "normalize-job by a sync's worker instances",
        "export  crm:mail-sync/sync@0.2.0",
        "export  crm:mail-sync/send@0.2.0",
        "speaks  crm:mail-sync@0.2.0",
        "import  crm:mail-sync/submission-socket@0.2.0",
        "`send` calls only, each started by the platform with one draft",
        "MAIL FROM must be the linked address",
        "microsoft: smtp://smtp.office365.com:587",
        "read-only except in a `send` or `act` call",
        "limit   send",
        "limit   act",
        "IMAP connections that may write, no submission socket",
        "at most 30 a minute and 2000 a day per mailbox",
        "microsoft: https://login.microsoftonline.com",
        "microsoft: imaps://outlook.office365.com:993",
        // What the host denies is named, whether or not the component asks for it.
        "denied  wasi:http/*",
        "NOT linked: the component cannot be instantiated",
        "denied  wasi:filesystem/*",
        "no preopened directory, so no file can be named",
        "denied  wasi:sockets/*",
        "TCP and UDP refused (access-denied) and name lookup failing",
        // The limits every call runs under.
        "limit   memory",
        "all memories together; 1 memory",
        "limit   inbox",
        "10000 deliveries and 128 MiB per call",
        "64 MiB and 10000 keys per mailbox; values sealed with AES-256-GCM",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // Google is not enabled by default, so it is granted nothing.
    assert!(!out.contains("google:"), "{out}");
    assert!(!out.contains("NOT provided"), "{out}");
}

#[test]
fn normalize_prints_one_json_record_per_message() {
    let out = stdout(&run(&[
        "normalize",
        "--json",
        "--address",
        "bob@crm-customer.nl",
        &corpus("01-plain.eml"),
        &corpus("18-outbound.eml"),
    ]));
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0]["message-id"]
            .as_str()
            .or(records[0]["message_id"].as_str()),
        Some("plain-1@mail.example.org")
    );
    assert_eq!(records[1]["subject"], "Proposal");
}

#[test]
fn normalize_summarises_a_directory_with_warnings_in_words() {
    let dir = format!("{}/../tests/corpus", env!("CARGO_MANIFEST_DIR"));
    let out = stdout(&run(&[
        "normalize",
        "--address",
        "bob@crm-customer.nl",
        &dir,
    ]));
    assert_eq!(
        out.matches("── ").count(),
        std::fs::read_dir(&dir).unwrap().count()
    );
    assert!(
        out.contains("contract.pdf (application/pdf, 1055 B, blake3 42f04cb5b239…)"),
        "{out}"
    );
    assert!(out.contains("multipart \"CUT\" never closed"), "{out}");
    assert!(out.contains("direction   outbound"), "{out}");
}

#[test]
fn a_missing_input_is_a_clear_error() {
    let output = run(&["normalize", "/no/such/message.eml"]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("/no/such/message.eml is neither a file nor a directory"),
        "{err}"
    );
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["normalize", "--help"],
        &["audit", "--help"],
        &["link", "--help"],
        &["status", "--help"],
        &["unlink", "--help"],
        &["refresh", "--help"],
        &["folders", "--help"],
        &["suggest", "--help"],
        &["map", "--help"],
    ] {
        let out = stdout(&run(args));
        assert!(out.contains("Usage:"), "{out}");
    }
}

#[test]
fn control_characters_from_mail_are_shown_not_sent_to_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.eml");
    std::fs::write(
        &path,
        b"From: \"Evil\x1b]0;pwned\x07\" <evil@example.com>\r\nSubject: Clear \x1b[2J screen \xc2\x9b and \xe2\x80\xae reversed\r\n\
          Content-Type: text/plain\r\n\r\nbody with \x1b[31m red\r\n",
    )
    .unwrap();
    let out = stdout(&run(&[
        "normalize",
        "--address",
        "bob@crm-customer.nl",
        path.to_str().unwrap(),
    ]));
    for obeyed in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}', '\r'] {
        assert!(
            !out.contains(obeyed),
            "{obeyed:?} reached the terminal: {out:?}"
        );
    }
    assert!(out.contains("Clear \\u{1b}[2J screen"), "{out}");
}
