//! The "E-mail settings" panel in a real headless Chromium, served by the real service over the
//! real component, a real Dovecot and the fake providers' consent pages: the whole story of the
//! source document, and each of its "possible problems" with the message that says what to do.

use std::time::Duration;

use host_harness::HostSettings;
use host_harness::service::{self, RunningService, ServiceSettings};
use tests::browser::Browser;
use tests::dovecot::STANDARD_FOLDERS;
use tests::fake_provider::Consent;
use tests::mail_fixtures::{days_ago, plain};
use tests::oauth_world::{DovecotSetup, OAuthWorld};
use tests::sync_checks::ANNA;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "platform-token-0123456789";
const PATIENCE: Duration = Duration::from_secs(30);

struct Panel {
    w: OAuthWorld,
    running: RunningService,
    stop: CancellationToken,
    browser: Browser,
}

impl Panel {
    /// The service over a browser-ready world (settings changed by `configure`), and a browser
    /// signed in to the panel as `anna`, who manages mailbox `m1` and administers the CRM.
    async fn open(lang: &str, configure: impl FnOnce(&mut HostSettings)) -> Panel {
        Self::open_on(DovecotSetup::new(STANDARD_FOLDERS), lang, configure).await
    }

    /// As `open`, with Dovecot (and Postfix) as `setup` says.
    async fn open_on(
        setup: DovecotSetup<'_>,
        lang: &str,
        configure: impl FnOnce(&mut HostSettings),
    ) -> Panel {
        let w = OAuthWorld::for_browser_with(setup, configure).await;
        let mut config = ServiceSettings::from_table(&toml::Table::new()).expect("defaults");
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.api_token = Some(TOKEN.into());
        config.schedule.interval_secs = 3600;
        let stop = CancellationToken::new();
        let running = service::start(w.host.clone(), config, stop.clone())
            .await
            .expect("the service starts");
        let login: serde_json::Value = tests::http_client()
            .post(format!("http://{}/api/v1/panel/sessions", running.address))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "user": "anna", "mailbox": "m1", "admin": true, "lang": lang }))
            .send()
            .await
            .expect("the platform asks for a login")
            .json()
            .await
            .expect("a login link");
        let browser = Browser::start().await;
        let path = login["login_path"].as_str().expect("a login path");
        browser
            .client
            .goto(&format!("http://{}{path}", running.address))
            .await
            .expect("the sign-in page opens");
        browser.click("#continue").await;
        browser
            .until(
                "the panel is ready",
                PATIENCE,
                "return document.body.dataset.ready === 'true'",
            )
            .await;
        Panel {
            w,
            running,
            stop,
            browser,
        }
    }

    async fn close(self) {
        self.browser.close().await;
        self.stop.cancel();
        self.running.stopped().await.expect("the service stops");
    }

    /// The dropdown's provider ids.
    async fn providers(&self) -> serde_json::Value {
        self.browser
            .eval("return [...document.querySelectorAll('#provider option')].map(o => o.value)")
            .await
    }

    /// Clicks "Link mailbox" with `provider` chosen, and switches to the consent tab.
    async fn link_with(
        &self,
        provider: &str,
    ) -> (fantoccini::wd::WindowHandle, fantoccini::wd::WindowHandle) {
        let panel = self.browser.client.window().await.expect("the panel's tab");
        self.browser
            .click(&format!("#provider option[value='{provider}']"))
            .await;
        self.browser.click("#link").await;
        let consent = self.browser.other_tab(&panel).await;
        (panel, consent)
    }
}

impl Panel {
    /// In the callback's tab: once it has told the panel, closes it and goes back to `panel`.
    async fn back_to(&self, panel: fantoccini::wd::WindowHandle) {
        let b = &self.browser;
        b.until(
            "the panel is told",
            PATIENCE,
            "return document.body.dataset.told === 'true'",
        )
        .await;
        b.client.close_window().await.expect("close the tab");
        b.client
            .switch_to_window(panel)
            .await
            .expect("back to the panel");
    }

    /// Links through `provider`'s consent page ("Allow"), and goes back to the panel.
    async fn link_through_consent(&self, provider: &str) {
        let (panel, _) = self.link_with(provider).await;
        self.allow().await;
        self.back_to(panel).await;
    }

    /// Clicks "Allow" on the consent page, and waits for the callback to confirm the link.
    async fn allow(&self) {
        self.allow_and_wait("linked").await;
    }

    /// Clicks "Allow" on the consent page, and waits for the callback's `outcome`.
    async fn allow_and_wait(&self, outcome: &str) {
        let b = &self.browser;
        b.until(
            "the consent page",
            PATIENCE,
            "return !!document.getElementById('allow')",
        )
        .await;
        b.click("#allow").await;
        b.until(
            &format!("the callback's outcome {outcome}"),
            PATIENCE,
            &format!(
                "return document.getElementById('link-result')?.dataset.outcome === '{outcome}'"
            ),
        )
        .await;
    }
}

fn visible(id: &str) -> String {
    format!("return !document.getElementById('{id}').hidden")
}

#[tokio::test]
async fn a_user_links_maps_watches_mail_arrive_and_removes_the_mailbox_in_a_browser() {
    let p = Panel::open("en", |_| {}).await;
    let b = &p.browser;
    assert_eq!(
        p.providers().await,
        serde_json::json!(["google", "microsoft"])
    );
    b.screenshot("panel-unlinked").await;

    // Link mailbox: consent in a new tab, then the panel shows the filled, read-only fields.
    let (panel, _consent) = p.link_with("google").await;
    b.find("#allow").await;
    b.screenshot("provider-consent").await;
    p.allow().await;
    assert!(b.text("#link-result-text").await.contains(ANNA));
    p.back_to(panel).await;
    b.until(
        "the address shows",
        PATIENCE,
        &format!("return document.getElementById('f-address').value === '{ANNA}'"),
    )
    .await;
    let read_only = b
        .eval("return [...document.querySelectorAll('#mail-settings input')].map(i => i.readOnly && !!i.value)")
        .await;
    assert_eq!(
        read_only,
        serde_json::json!([true, true, true, true, true, true])
    );
    assert_eq!(
        b.eval("return document.getElementById('provider').disabled")
            .await,
        true
    );
    b.until("remove is offered", PATIENCE, &visible("remove"))
        .await;

    // Edit folders: one dropdown per CRM folder, the suggestion preselected; save.
    b.click("#edit-folders").await;
    b.until("the folder form", PATIENCE, &visible("folders-form"))
        .await;
    let chosen = b
        .eval("return ['inbox','archive','deleted','sent'].map(f => document.getElementById('map-' + f).value)")
        .await;
    assert_eq!(
        chosen,
        serde_json::json!(["INBOX", "Archive", "Trash", "Sent"])
    );
    b.screenshot("panel-edit-folders").await;
    b.click("#save-folders").await;
    b.until(
        "the folders are saved",
        PATIENCE,
        "return document.getElementById('folders-form').hidden",
    )
    .await;
    assert!(b.text("#notice").await.contains("Folders saved"));

    // The saved mapping's first pass ends (its report covers the four folders) before new mail
    // comes, so the last sync shown below is the push's.
    let full_pass = || {
        p.w.db
            .inbox()
            .sync_runs("m1", 10)
            .unwrap()
            .iter()
            .any(|(_, report)| {
                let report: serde_json::Value = serde_json::from_str(report).unwrap_or_default();
                report["folders"].as_array().map_or(0, Vec::len) == 4
            })
    };
    let started = std::time::Instant::now();
    while !full_pass() {
        assert!(
            started.elapsed() < PATIENCE,
            "the mapping's first pass never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // New mail shows in the list by push: no reload, no sync click.
    let mut seeder = p.w.dovecot.as_ref().unwrap().seeder(ANNA).await;
    let offer = plain(
        "panel-1",
        "Klant <klant@example.com>",
        ANNA,
        "Nieuwe offerte",
        "Zie bijlage.",
    );
    seeder
        .append_with("INBOX", "", Some(&days_ago(0)), &offer)
        .await;
    b.until(
        "the new message shows",
        PATIENCE,
        "return [...document.querySelectorAll('#message-list td')].some(td => td.textContent === 'Nieuwe offerte')",
    )
    .await;
    b.until(
        "the last sync shows",
        PATIENCE,
        "return /1 new/.test(document.getElementById('last-sync-text').textContent)",
    )
    .await;
    b.screenshot("panel-linked").await;

    // Remove mailbox asks first; cancelling keeps it, confirming empties the fields.
    b.click("#remove").await;
    b.until(
        "the confirmation",
        PATIENCE,
        "return document.getElementById('confirm-remove').open",
    )
    .await;
    b.click("#confirm-remove-no").await;
    assert_eq!(
        b.eval("return document.getElementById('confirm-remove').open")
            .await,
        false
    );
    assert_eq!(
        p.w.status("m1").await.state,
        host_harness::bindings::mailbox::LinkState::Linked
    );
    b.click("#remove").await;
    b.click("#confirm-remove-yes").await;
    b.until("the fields are empty", PATIENCE, "return document.getElementById('f-address').value === '' && !document.getElementById('link').hidden")
        .await;
    assert_eq!(
        p.w.status("m1").await.state,
        host_harness::bindings::mailbox::LinkState::Unlinked
    );
    // Mail already in the CRM stays: the service still lists it after the unlink.
    let page: serde_json::Value = tests::http_client()
        .get(format!(
            "http://{}/api/v1/mailboxes/m1/messages",
            p.running.address
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the messages")
        .json()
        .await
        .expect("a page");
    let kept = page["messages"].as_array().expect("a list");
    assert!(
        kept.iter().any(|m| m["removed"] == false),
        "the CRM's mail stays after the unlink: {page}"
    );
    p.close().await;
}

#[tokio::test]
async fn without_the_feature_flag_link_mailbox_is_disabled_and_says_whom_to_ask() {
    let p = Panel::open("en", |s| s.platform.feature_flags.clear()).await;
    let b = &p.browser;
    assert_eq!(
        b.eval("return document.getElementById('link').disabled")
            .await,
        true
    );
    b.until("the reason shows", PATIENCE, &visible("link-unavailable"))
        .await;
    assert!(
        b.text("#link-unavailable")
            .await
            .contains("customer success")
    );
    // The administrator switches the flag on in "Imap oAuth2"; the button follows.
    b.click("#admin-link-flag").await;
    b.click("#admin-save").await;
    b.until(
        "linking is available",
        PATIENCE,
        "return !document.getElementById('link').disabled",
    )
    .await;
    p.close().await;
}

#[tokio::test]
async fn google_missing_from_the_dropdown_is_explained_and_the_administrator_enables_it() {
    let p = Panel::open("nl", |s| s.platform.providers[0].enabled = false).await;
    let b = &p.browser;
    assert_eq!(p.providers().await, serde_json::json!(["microsoft"]));
    let hint = b.text("#provider-hints").await;
    assert!(
        hint.contains("Google kan niet gekozen worden") && hint.contains("Imap oAuth2"),
        "{hint}"
    );
    assert_eq!(b.text("#link").await, "Mailbox koppelen");
    b.screenshot("panel-google-missing").await;
    // The administrator's panel: enable Google; the dropdown offers it at once, and the host
    // grants it its endpoints again.
    b.click("#admin-provider-google").await;
    b.click("#admin-save").await;
    b.until(
        "Google is offered",
        PATIENCE,
        "return [...document.querySelectorAll('#provider option')].some(o => o.value === 'google')",
    )
    .await;
    assert_eq!(b.text("#provider-hints").await, "");
    p.link_through_consent("google").await;
    assert_eq!(
        p.w.status("m1").await.address.as_deref(),
        Some(ANNA),
        "linked through Google"
    );
    p.close().await;
}

#[tokio::test]
async fn a_domain_without_the_crm_as_trusted_app_gets_the_message_to_ask_its_administrator() {
    let p = Panel::open("nl", |_| {}).await;
    p.w.google.world().consents.push_back(Consent::Refuse {
        error: "admin_policy_enforced".into(),
        description: "The app is not trusted by the domain.".into(),
    });
    let b = &p.browser;
    let (panel, _) = p.link_with("google").await;
    b.until(
        "the refusal shows",
        PATIENCE,
        "return document.getElementById('link-result')?.dataset.ok === 'false'",
    )
    .await;
    let said = b.text("#link-result-text").await;
    assert!(said.contains("vertrouwde app"), "{said}");
    b.screenshot("callback-trusted-app").await;
    p.back_to(panel).await;
    b.until(
        "the panel repeats it",
        PATIENCE,
        "return /vertrouwde app/.test(document.getElementById('problem').textContent)",
    )
    .await;
    assert_eq!(
        p.w.status("m1").await.state,
        host_harness::bindings::mailbox::LinkState::Unlinked
    );
    p.close().await;
}

#[tokio::test]
async fn edit_folders_after_the_authorisation_changed_says_to_link_again() {
    let p = Panel::open("en", |_| {}).await;
    let b = &p.browser;
    p.link_through_consent("google").await;
    b.until(
        "edit folders is offered",
        PATIENCE,
        &visible("edit-folders"),
    )
    .await;
    // Something changed after the sign-in: the account's grant was revoked at Google.
    {
        let mut google = p.w.google.world();
        google.revoke_account(ANNA);
        google.expire_access_tokens();
    }
    b.click("#edit-folders").await;
    b.until("the problem shows", PATIENCE, &visible("problem"))
        .await;
    let problem = b.text("#problem").await;
    assert!(problem.contains("Link mailbox"), "{problem}");
    // The panel offers to link again, with the reason.
    b.until("re-authorise is offered", PATIENCE, &visible("reauth"))
        .await;
    b.screenshot("panel-edit-folders-error").await;
    p.close().await;
}

/// A login CSRF, tried in a real browser: Mallory signs in as herself, starts a link for her own
/// CRM mailbox, and has the victim's browser open one of her sign-in links and then her consent
/// URL. The sign-in link only asks; the consent's callback, in the victim's browser, is refused
/// with a message that says why; and the victim's own link still goes through.
#[tokio::test]
async fn a_login_csrf_links_nothing_and_the_victims_own_link_still_does() {
    let p = Panel::open("en", |_| {}).await;
    let b = &p.browser;
    let base = format!("http://{}", p.running.address);
    b.until(
        "the panel says who is signed in",
        PATIENCE,
        "return document.getElementById('signed-in-as').textContent.includes('anna')",
    )
    .await;

    // Mallory's own browser: a session, and a link attempt for her mailbox with the victim's
    // address as the hint.
    let mint = || tests::panel_client::login_path(&base, "mallory", "m-mallory", false);
    let (_, cookie) = tests::panel_sign_in(&base, &mint().await).await;
    let mallory = tests::panel_client::Signed::with_cookie(&base, cookie).await;
    let started: serde_json::Value = mallory
        .changing(
            reqwest::Method::POST,
            format!("{base}/api/v1/mailboxes/m-mallory/link"),
        )
        .json(&serde_json::json!({ "provider": "google", "login_hint": ANNA }))
        .send()
        .await
        .expect("her link starts")
        .json()
        .await
        .expect("a consent URL");
    let consent_url = started["authorization_url"].as_str().expect("a URL");

    // The victim's browser opens Mallory's second sign-in link: it asks, and signs nobody in.
    b.client
        .goto(&format!("{base}{}", mint().await))
        .await
        .expect("the sign-in page");
    assert!(b.text("#login-who").await.contains("mallory"));
    assert!(b.text("#login-replaces").await.contains("anna"));
    b.screenshot("login-csrf-sign-in-asks").await;

    // Then Mallory's consent URL: the victim consents, and the callback refuses.
    b.client.goto(consent_url).await.expect("the consent page");
    p.allow_and_wait("other-session").await;
    let said = b.text("#link-result-text").await;
    assert!(
        said.contains("started in another browser") && said.contains("nothing was linked"),
        "{said}"
    );
    b.screenshot("login-csrf-refused").await;
    for mailbox in ["m-mallory", "m1"] {
        assert_eq!(
            p.w.status(mailbox).await.state,
            host_harness::bindings::mailbox::LinkState::Unlinked,
            "{mailbox}"
        );
    }

    // Back in the panel, still signed in as the victim, her own link goes through.
    b.client
        .goto(&format!("{base}/panel/"))
        .await
        .expect("the panel");
    b.until(
        "the panel is ready",
        PATIENCE,
        "return document.body.dataset.ready === 'true'",
    )
    .await;
    assert!(b.text("#signed-in-as").await.contains("anna"));
    p.link_through_consent("google").await;
    b.until(
        "the address shows",
        PATIENCE,
        &format!("return document.getElementById('f-address').value === '{ANNA}'"),
    )
    .await;
    p.close().await;
}

/// In `lang`: the list shows the newest message first with its date in that language, and
/// "Reply" sends an answer through the linked mailbox that reaches the sender once, threaded.
/// Replies to the newest message, then marks it read and archives the older one, from the
/// list: each reaches the mailbox, and the reply marks its message answered there.
async fn reply_from_the_list(lang: &str, sent_text: &str, mark_read: &str) {
    let setup = DovecotSetup {
        submission: true,
        ..DovecotSetup::new(STANDARD_FOLDERS)
    };
    let p = Panel::open_on(setup, lang, |_| {}).await;
    let b = &p.browser;
    let mut seeder = p.w.dovecot.as_ref().unwrap().seeder(ANNA).await;
    // The newer is appended first: the list sorts by the messages' own dates.
    for (id, subject, date, age) in [
        (
            "newer",
            "Nieuwe offerte",
            "Wed, 02 Dec 2026 14:30:00 +0100",
            0,
        ),
        ("older", "Oude vraag", "Mon, 23 Nov 2026 09:00:00 +0100", 2),
    ] {
        let m = plain(
            id,
            "Bob de Vries <bob@example.nl>",
            ANNA,
            subject,
            "Wat kost het?",
        );
        let m = String::from_utf8(m)
            .unwrap()
            .replace("Tue, 24 Nov 2026 10:00:00 +0100", date);
        seeder
            .append_with("INBOX", "", Some(&days_ago(age)), m.as_bytes())
            .await;
    }
    p.link_through_consent("google").await;
    let mapping = host_harness::bindings::folders::FolderMapping {
        inbox: Some("INBOX".into()),
        archive: Some("Archive".into()),
        deleted: Some("Trash".into()),
        sent: Some("Sent".into()),
    };
    p.w.mailbox("m1")
        .set_mapping(&mapping)
        .await
        .unwrap()
        .expect("mapped");
    p.w.mailbox("m1").sync().await.unwrap().expect("synced");
    b.until(
        "both messages show",
        PATIENCE,
        "return document.querySelectorAll('#message-list tr').length === 2",
    )
    .await;
    let rows = b
        .eval(
            "return [...document.querySelectorAll('#message-list tr')].map(r => \
             [...r.querySelectorAll('td')].slice(0, 4).map(td => td.textContent))",
        )
        .await;
    assert_eq!(rows[0][1], "Nieuwe offerte", "newest first: {rows}");
    assert_eq!(rows[1][1], "Oude vraag", "{rows}");
    // The date in the panel's language and the browser's time zone, never the raw ISO text.
    let locale = if lang == "nl" { "nl-NL" } else { "en-GB" };
    let expected = b
        .eval(&format!(
            "return new Intl.DateTimeFormat('{locale}', {{dateStyle: 'medium', timeStyle: 'short'}})\
             .format(new Date('2026-12-02T13:30:00Z'))"
        ))
        .await;
    assert!(!rows[0][3].as_str().unwrap().contains("2026-12"), "{rows}");
    assert_eq!(rows[0][3], expected, "{rows}");

    b.click("#message-list tr:first-child button.reply").await;
    b.client
        .find(fantoccini::Locator::Css("#reply-text"))
        .await
        .expect("the reply's text")
        .send_keys("Beste Bob, het kost 1.200 euro.")
        .await
        .expect("typed");
    b.click("#reply-send").await;
    b.until(
        "the reply is sent",
        PATIENCE,
        "return document.getElementById('reply-outcome').dataset.state === 'sent'",
    )
    .await;
    let shown = b
        .eval("return document.getElementById('reply-outcome').textContent")
        .await;
    assert!(shown.as_str().unwrap().starts_with(sent_text), "{shown}");
    let message_id = b
        .eval("return document.getElementById('reply-outcome').dataset.messageId")
        .await;
    let headers =
        tests::send_world::delivered(&p.w, "bob@example.nl", message_id.as_str().unwrap()).await;
    assert_eq!(headers.len(), 1, "delivered once");
    assert!(
        headers[0].contains("Subject: Re: Nieuwe offerte"),
        "{}",
        headers[0]
    );
    assert!(
        headers[0].contains("<newer@mail.example.org>"),
        "{}",
        headers[0]
    );
    b.screenshot(&format!("panel-reply-{lang}")).await;
    b.click("#reply-cancel").await;
    let mut seeder = p.w.dovecot.as_ref().unwrap().seeder(ANNA).await;
    // The outbox marks it answered after the reply, as its next entry.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let flags = seeder.flags("INBOX").await;
        if flags
            .iter()
            .any(|(_, f)| f.iter().any(|f| f == "\\Answered"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replied message is marked answered: {flags:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // "Mark read" on the newest, "Archive" on the older: both reach the mailbox.
    let label = b
        .eval("return document.querySelector('#message-list tr:first-child button.act-seen').textContent")
        .await;
    assert_eq!(label, mark_read);
    b.click_in_page("#message-list tr:first-child button.act-seen")
        .await;
    b.until(
        "the newest shows read",
        PATIENCE,
        "const r = document.querySelector('#message-list tr:first-child'); \
         return r.dataset.seen === 'true' && !r.querySelector('button.act-seen')",
    )
    .await;
    let read = seeder.flags("INBOX").await;
    assert!(
        read.iter().any(|(_, f)| f.iter().any(|f| f == "\\Seen")),
        "{read:?}"
    );
    b.click_in_page("#message-list tr:nth-child(2) button.act-archive")
        .await;
    b.until(
        "the older shows archived",
        PATIENCE,
        "return document.querySelector('#message-list tr:nth-child(2) td:nth-child(3)') \
         .textContent === 'archive'",
    )
    .await;
    let archived =
        tests::send_world::in_folder(&p.w, ANNA, "Archive", "<older@mail.example.org>").await;
    assert_eq!(archived.len(), 1, "archived in the mailbox");
    let left = seeder.flags("INBOX").await;
    assert_eq!(left.len(), 1, "only the newest is left in INBOX: {left:?}");
    p.close().await;
}

#[tokio::test]
async fn reply_from_the_message_list_in_english() {
    reply_from_the_list("en", "Sent.", "Mark read").await;
}

#[tokio::test]
async fn reply_from_the_message_list_in_dutch() {
    reply_from_the_list("nl", "Verstuurd.", "Markeer als gelezen").await;
}
