//! A real headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`,
//! through `fantoccini`). One chromedriver on a free loopback port, in its own process group, is
//! shared by the tests running at the same time; each test gets a Chromium of its own, with its
//! own profile, so cookies (which ignore the port) never pass from one test's panel to
//! another's. Screenshots go under `target/screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::dovecot::free_port;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A test's Chromium, through the shared driver.
pub struct Browser {
    pub client: Client,
    _driver: Arc<Driver>,
    _profile: tempfile::TempDir,
}

/// The chromedriver process, killed with every Chromium it started when the last test using it
/// lets go.
struct Driver {
    process: Mutex<Child>,
    url: String,
}

/// Where screenshots are saved: `target/screenshots/` of this workspace.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots")
}

impl Driver {
    /// The driver the running tests share, started when none runs.
    fn shared() -> Arc<Driver> {
        static SHARED: Mutex<Weak<Driver>> = Mutex::new(Weak::new());
        let mut held = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(driver) = held.upgrade() {
            return driver;
        }
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
            match Self::start(free_port()) {
                Ok(driver) => {
                    let driver = Arc::new(driver);
                    *held = Arc::downgrade(&driver);
                    return driver;
                }
                Err(e) => last_error = e,
            }
        }
        panic!("chromedriver did not start: {last_error}");
    }

    fn start(port: u16) -> Result<Driver, String> {
        use std::os::unix::process::CommandExt;
        let mut process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {CHROMEDRIVER}: {e}"))?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = process.try_wait() {
                return Err(format!("chromedriver exited: {status}"));
            }
            if started.elapsed() > Duration::from_secs(20) {
                kill_group(&mut process);
                return Err("chromedriver did not listen within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Driver {
            process: Mutex::new(process),
            url: format!("http://127.0.0.1:{port}"),
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let process = self.process.get_mut().unwrap_or_else(|p| p.into_inner());
        kill_group(process);
    }
}

impl Browser {
    /// A headless Chromium of this test's own, through the shared chromedriver; panics with how
    /// to install them when they are missing.
    pub async fn start() -> Self {
        let driver = tokio::task::spawn_blocking(Driver::shared)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let profile = tempfile::tempdir().expect("a profile folder");
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
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("no WebDriver session: {e}"));
        Browser {
            client,
            _driver: driver,
            _profile: profile,
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

    /// Clicks `css` from within the page, found and clicked in one step, so a list that renders
    /// itself again in between cannot leave the driver a stale element; waits up to 30 s for it.
    pub async fn click_in_page(&self, css: &str) {
        let script = format!(
            "const e = document.querySelector({}); if (!e) return false; e.click(); return true;",
            serde_json::Value::String(css.to_string())
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.eval(&script).await != serde_json::Value::Bool(true) {
            assert!(
                std::time::Instant::now() < deadline,
                "nothing to click at {css}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
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

    /// Ends the session, and its Chromium with it.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

fn kill_group(driver: &mut Child) {
    // chromedriver and the Chromium it started share its process group.
    unsafe {
        libc::kill(-(driver.id() as i32), libc::SIGKILL);
    }
    let _ = driver.wait();
}
