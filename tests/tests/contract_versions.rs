//! A plugin built against the last release's contract (`crm:mail-sync@0.1.0`) still runs in
//! this host: it syncs into the inbox through the same capabilities, under the same read-only
//! rule, and the host says which contract it speaks; it cannot send.

use host_harness::plugin_versions::ContractVersion;
use host_harness::{CallError, HostSettings, PluginHost};
use tests::LoopbackServer;

const OLD_GUEST: &str = env!("CONTRACT_0_1_GUEST_WASM");

fn old_host(settings: &HostSettings) -> PluginHost {
    let db = host_harness::db::Database::open_in_memory().expect("database");
    PluginHost::load(
        OLD_GUEST.as_ref(),
        settings,
        db,
        Some(&tests::component_cache()),
    )
    .expect("a 0.1.0 component loads")
}

#[tokio::test]
async fn a_component_of_the_last_release_syncs_as_before() {
    let host = old_host(&HostSettings::default());
    assert_eq!(host.contract_version(), ContractVersion::V0_1);
    let mailbox = host.mailbox("m1");
    for run in 0..2 {
        let report = mailbox.sync().await.expect("runs").expect("synced");
        assert_eq!(report.folders[0].created, 1, "run {run}");
        assert_eq!(report.folders[0].first_sync, run == 0);
    }
    let stored = host
        .shared()
        .db
        .inbox()
        .inbox_messages("m1")
        .expect("inbox");
    assert_eq!(stored.len(), 2, "one record per run");
    let rows = host_harness::audit::audit(&host);
    let speaks = rows
        .iter()
        .find(|r| r.direction == "speaks")
        .expect("version row");
    assert_eq!(speaks.name, "crm:mail-sync@0.1.0");
    assert!(rows.iter().any(|r| r.name == "crm:mail-sync/sync@0.1.0"));
}

#[tokio::test]
async fn a_component_of_the_last_release_cannot_send_nor_write() {
    let server = LoopbackServer::start("* OK IMAP4rev1\r\n".into()).await;
    let granted = format!("imap://127.0.0.1:{}", server.port);
    let settings = tests::settings_with_test_grant(&[], std::slice::from_ref(&granted));
    let host = old_host(&settings);
    host.assign_provider("m1", Some("test")).await.unwrap();
    let argument = format!(
        "{}|a1 EXAMINE INBOX|a2 STORE 1 +FLAGS (\\Deleted)",
        server.port
    );
    let record = host
        .mailbox("m1")
        .normalize(argument.as_bytes(), None, "")
        .await
        .expect("runs");
    // The 0.1.0 contract has no read-only error: the refusal comes as `invalid-state`.
    assert_eq!(record.text_body, "ok,invalid-state");
    let draft = tests::draft_to("k", "bob@example.nl", "hi", "hi");
    match host.mailbox("m1").send(&draft).await {
        Err(CallError::NotInContract { export, version }) => {
            assert_eq!((export, version), ("send", "0.1.0"));
        }
        other => panic!("expected NotInContract, got {other:?}"),
    }
    let target = host_harness::bindings::act::Target {
        message_id: "m@x".into(),
        places: vec![],
        gmail_message_id: None,
    };
    let action = host_harness::bindings::act::Action::Seen(true);
    match host.mailbox("m1").act(&target, action).await {
        Err(CallError::NotInContract { export, version }) => {
            assert_eq!((export, version), ("act", "0.1.0"));
        }
        other => panic!("expected NotInContract, got {other:?}"),
    }
}
