//! What the suite must never show: every token and client secret the fake provider issued, and
//! everything the suite captured (logs, CLI output, answers), so one check can grep it all.

use std::sync::{Mutex, Once};

static ISSUED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static LOGS: Once = Once::new();

/// Remembers a secret the fake provider issued or was configured with.
pub fn issued(secret: &str) {
    ISSUED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(secret.to_string());
}

/// Adds text the suite saw (an answer, an error, CLI output) to what is checked for secrets.
pub fn capture(text: &str) {
    CAPTURED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend_from_slice(text.as_bytes());
}

struct CaptureWriter;

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every log line of this test process into the capture: the host's and the plugin's at
/// every level, other crates' at debug (the compiler's own tracing is left out: it is only code).
pub fn capture_logs() {
    LOGS.call_once(|| {
        let filter = "debug,plugin=trace,host_harness=trace,cranelift_codegen=warn,cranelift_frontend=warn,wasmtime=info,wasmtime_cranelift=info,wasmtime_environ=info,regalloc2=warn";
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(|| CaptureWriter)
            .with_ansi(false)
            .try_init();
    });
}

/// Panics naming the first issued secret found anywhere in what was captured.
pub fn assert_no_secret_captured() {
    let captured = CAPTURED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let captured = String::from_utf8_lossy(&captured);
    assert!(
        !captured.is_empty(),
        "nothing was captured: the check would prove nothing"
    );
    for secret in ISSUED.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        assert!(
            !captured.contains(secret.as_str()),
            "a secret issued by the fake provider appears in captured output (it starts {:?})",
            &secret[..secret.len().min(8)]
        );
    }
}
