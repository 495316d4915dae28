//! A real headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`,
//! through `fantoccini`): started on a free loopback port in its own process group, with its
//! own profile, and killed whole when the test ends. Screenshots go under `target/screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::dovecot::free_port;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// Where screenshots are saved: `target/screenshots/` of this workspace.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; panics with how to install them
    /// when they are missing.
    pub async fn start() -> Self {
        for path in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: the panel's tests need Debian's chromium and chromium-driver \
                 (`make test` installs them; or `apt-get install chromium chromium-driver`)"
            );
        }
        // A port taken between choosing and binding fails the start: try another.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(free_port()).await {
                Ok(browser) => return browser,
                Err(e) => last_error = e,
            }
        }
        panic!("chromedriver did not start: {last_error}");
    }

    async fn try_start(port: u16) -> Result<Self, String> {
        use std::os::unix::process::CommandExt;
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {CHROMEDRIVER}: {e}"))?;
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = driver.try_wait() {
                return Err(format!("chromedriver exited: {status}"));
            }
            if started.elapsed() > Duration::from_secs(20) {
                kill_group(&mut driver);
                return Err("chromedriver did not listen within 20 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1200,1000".into(),
            "--lang=en-GB".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "args": args, "binary": CHROMIUM }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&url)
            .await;
        match client {
            Ok(client) => Ok(Browser {
                client,
                driver,
                _profile: profile,
            }),
            Err(e) => {
                kill_group(&mut driver);
                Err(format!("no WebDriver session: {e}"))
            }
        }
    }

    /// Saves a screenshot of the current tab as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is written");
    }

    /// The text of the element `css`, once it exists.
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        element.text().await.expect("its text")
    }

    /// The element `css`, waiting up to 20 s for it.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Evaluates `script` (a function body; `arguments` are `args`) in the page.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Waits up to `limit` until `script` returns `true` in the page; panics with `what` and
    /// a screenshot named after it otherwise.
    pub async fn until(&self, what: &str, limit: Duration, script: &str) {
        let started = Instant::now();
        loop {
            if self.client.execute(script, Vec::new()).await.ok() == Some(true.into()) {
                return;
            }
            if started.elapsed() > limit {
                let body = self
                    .client
                    .execute("return document.body.innerText", Vec::new())
                    .await
                    .unwrap_or_default();
                self.screenshot(&format!("failed-{}", what.replace(' ', "-")))
                    .await;
                panic!("never: {what}; the page says: {body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Switches to the tab that is not `current`, once there is one; its handle.
    pub async fn other_tab(
        &self,
        current: &fantoccini::wd::WindowHandle,
    ) -> fantoccini::wd::WindowHandle {
        let started = Instant::now();
        loop {
            let windows = self.client.windows().await.expect("the tabs");
            if let Some(other) = windows.into_iter().find(|w| w != current) {
                self.client
                    .switch_to_window(other.clone())
                    .await
                    .expect("switch tabs");
                return other;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no new tab opened"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the session and the browser.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        kill_group(&mut self.driver);
    }
}

fn kill_group(driver: &mut Child) {
    // chromedriver and the Chromium it started share its process group.
    unsafe {
        libc::kill(-(driver.id() as i32), libc::SIGKILL);
    }
    let _ = driver.wait();
}

impl Drop for Browser {
    fn drop(&mut self) {
        if matches!(self.driver.try_wait(), Ok(None)) {
            kill_group(&mut self.driver);
        }
    }
}
