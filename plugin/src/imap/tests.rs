//! The IMAP session natively, against a scripted server: what the client writes, and how it reads
//! SASL continuations, literals and special-use attributes.

use super::{AuthOutcome, Session, SpecialUse, authenticate, list_folders};
use crate::ports::fakes::{Script, ScriptedConnection, Transcript};

/// A session with a server that greets with `greeting` and answers each command line (matched
/// by its text after the tag) with a reply in which `{tag}` is the command's tag.
fn session(greeting: &str, replies: &[(&str, &str)]) -> (Session, Transcript) {
    let script = replies
        .iter()
        .fold(Script::new(greeting), |s, (command, reply)| {
            s.reply(command, *reply)
        });
    let (conn, written) = ScriptedConnection::new(script);
    (
        Session::start(Box::new(conn), 1 << 20).expect("greeting"),
        written,
    )
}

fn written(w: &Transcript) -> String {
    w.text()
}

#[test]
fn xoauth2_goes_inline_with_sasl_ir_and_a_failure_continuation_is_answered_with_an_empty_line() {
    let (mut s, w) = session(
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n",
        &[
            ("AUTHENTICATE XOAUTH2", "+ eyJzdGF0dXMiOiI0MDEifQ==\r\n"),
            (
                "",
                "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n",
            ),
        ],
    );
    let outcome = authenticate(&mut s, "anna@example.nl", "tok").expect("answered");
    assert_eq!(outcome, AuthOutcome::Rejected("Invalid credentials".into()));
    let sent = written(&w);
    // base64("user=anna@example.nl\x01auth=Bearer tok\x01\x01")
    assert!(
        sent.contains("AUTHENTICATE XOAUTH2 dXNlcj1hbm5hQGV4YW1wbGUubmwBYXV0aD1CZWFyZXIgdG9rAQE="),
        "{sent}"
    );
    assert!(
        sent.ends_with("\r\n\r\n"),
        "the continuation was answered with an empty line: {sent:?}"
    );
}

#[test]
fn a_login_refused_for_too_many_connections_or_throttling_is_throttled_not_a_dead_token() {
    for refusal in [
        "{tag} NO [ALERT] Too many simultaneous connections. (Failure)\r\n",
        "{tag} NO [THROTTLED] Request is throttled\r\n",
        "{tag} NO [LIMIT] slow down\r\n",
    ] {
        let (mut s, _) = session(
            "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n",
            &[("AUTHENTICATE XOAUTH2", refusal)],
        );
        let outcome = authenticate(&mut s, "anna@example.nl", "tok");
        assert!(
            matches!(outcome, Err(super::ImapError::Throttled(_))),
            "{refusal}: {outcome:?}"
        );
    }
}

#[test]
fn without_sasl_ir_the_initial_response_follows_the_first_continuation() {
    let (mut s, w) = session(
        "* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] hi\r\n",
        &[
            ("AUTHENTICATE XOAUTH2", "+ \r\n"),
            ("dXNlcj1h", "{tag} OK [CAPABILITY IMAP4rev1 ID] done\r\n"),
        ],
    );
    assert_eq!(
        authenticate(&mut s, "anna@example.nl", "tok").unwrap(),
        AuthOutcome::Accepted
    );
    assert!(written(&w).contains("AUTHENTICATE XOAUTH2\r\n"));
    assert!(
        s.has_capability("ID"),
        "capabilities after login come from the OK"
    );
}

#[test]
fn oauthbearer_is_used_when_xoauth2_is_absent() {
    let (mut s, w) = session(
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi\r\n",
        &[("AUTHENTICATE OAUTHBEARER", "{tag} OK welcome\r\n")],
    );
    assert_eq!(
        authenticate(&mut s, "a@x.nl", "tok").unwrap(),
        AuthOutcome::Accepted
    );
    // base64("n,a=a@x.nl,\x01auth=Bearer tok\x01\x01")
    assert!(
        written(&w).contains("AUTHENTICATE OAUTHBEARER bixhPWFAeC5ubCwBYXV0aD1CZWFyZXIgdG9rAQE=")
    );
}

#[test]
fn list_reads_literals_utf7_names_and_attributes() {
    let (mut s, _) = session(
        "* OK [CAPABILITY IMAP4rev1 SPECIAL-USE] hi\r\n",
        &[(
            "LIST \"\" \"*\" RETURN (SPECIAL-USE)",
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
                 * LIST (\\Noselect \\HasChildren) \"/\" \"[Gmail]\"\r\n\
                 * LIST (\\HasNoChildren \\Trash) \"/\" {18}\r\n[Gmail]/Prullenbak\r\n\
                 * LIST (\\HasNoChildren) \"/\" \"Priv&AOk-\"\r\n\
                 {tag} OK LIST done\r\n",
        )],
    );
    let folders = list_folders(&mut s).expect("listed");
    let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["INBOX", "[Gmail]", "[Gmail]/Prullenbak", "Privé"]);
    assert_eq!(folders[0].special_use, [SpecialUse::Inbox]);
    assert!(!folders[1].selectable);
    assert_eq!(folders[2].special_use, [SpecialUse::Trash]);
}

#[test]
fn vanished_earlier_over_every_uid_to_2_pow_32_is_a_bounded_protocol_error() {
    use super::examine::{ExamineError, Known, MAX_VANISHED, examine};
    let (mut s, _) = session(
        "* OK [CAPABILITY IMAP4rev1 QRESYNC CONDSTORE] hi\r\n",
        &[(
            "EXAMINE",
            "* VANISHED (EARLIER) 1:*\r\n* OK [UIDVALIDITY 7] ok\r\n{tag} OK [READ-ONLY] done\r\n",
        )],
    );
    let known = Known {
        uid_validity: 7,
        modseq: 5,
        last_uid: u32::MAX - 1,
    };
    match examine(&mut s, "INBOX", Some(known)) {
        Err(ExamineError::Imap(super::ImapError::Protocol(why))) => {
            assert!(why.contains(&MAX_VANISHED.to_string()), "{why}")
        }
        other => panic!(
            "expected a protocol error, got {:?}",
            other.map(|e| e.vanished.len())
        ),
    }
}

#[test]
fn vanished_within_the_bound_is_read_whole() {
    use super::examine::{Known, examine};
    let (mut s, _) = session(
        "* OK [CAPABILITY IMAP4rev1 QRESYNC CONDSTORE] hi\r\n",
        &[(
            "EXAMINE",
            "* VANISHED (EARLIER) 3:5,9\r\n* OK [UIDVALIDITY 7] ok\r\n{tag} OK [READ-ONLY] done\r\n",
        )],
    );
    let known = Known {
        uid_validity: 7,
        modseq: 5,
        last_uid: 8,
    };
    let examined = examine(&mut s, "INBOX", Some(known)).expect("examined");
    // 9 is above what sync has: it means nothing.
    assert_eq!(examined.vanished, [3, 4, 5]);
}

#[test]
fn a_change_after_a_syncs_checkpoint_is_found_before_idling() {
    let changed = |reply: &str| {
        let (mut s, w) = session(
            "* OK [CAPABILITY IMAP4rev1 CONDSTORE QRESYNC IDLE] hi\r\n",
            &[("STATUS \"INBOX\" (HIGHESTMODSEQ)", reply)],
        );
        let changed = super::examine::changed_after(&mut s, "INBOX", 70).expect("answered");
        assert!(written(&w).contains(" STATUS \"INBOX\" (HIGHESTMODSEQ)\r\n"));
        changed
    };
    // The folder is where the checkpoint left it: IDLE may start.
    assert!(!changed(
        "* STATUS \"INBOX\" (HIGHESTMODSEQ 70)\r\n{tag} OK done\r\n"
    ));
    // A flag set after the sync's last question, already reported in another answer.
    assert!(changed(
        "* STATUS \"INBOX\" (HIGHESTMODSEQ 71)\r\n{tag} OK done\r\n"
    ));
    // A change reported in STATUS's own answer, whatever its HIGHESTMODSEQ says.
    for news in [
        "* 2 FETCH (UID 2 FLAGS (\\Answered) MODSEQ (72))\r\n",
        "* 3 EXISTS\r\n",
        "* VANISHED 4\r\n",
    ] {
        assert!(changed(&format!(
            "{news}* STATUS \"INBOX\" (HIGHESTMODSEQ 70)\r\n{{tag}} OK done\r\n"
        )));
    }
    // A server that gives no HIGHESTMODSEQ: nothing to compare, so IDLE starts as before.
    assert!(!changed("{tag} OK done\r\n"));
}
