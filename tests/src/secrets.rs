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

/// Every secret the fake provider issued so far, to look for where none may be.
pub fn issued_secrets() -> Vec<String> {
    ISSUED.lock().unwrap_or_else(|p| p.into_inner()).clone()
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

/// Everything captured so far, as text.
pub fn captured_text() -> String {
    let captured = CAPTURED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    String::from_utf8_lossy(&captured).into_owned()
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
        for form in forms(secret) {
            assert!(
                !captured.contains(form.as_str()),
                "a secret issued by the fake provider appears in captured output, as {} (it \
                 starts {:?})",
                if form == *secret { "is" } else { "base64" },
                &secret[..secret.len().min(8)]
            );
        }
    }
}

/// A secret as it is, and as it shows inside base64 at any alignment (XOAUTH2's
/// `user=...\x01auth=Bearer <token>` is sent base64-encoded): the characters that depend on
/// the secret alone.
pub fn forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    let mut forms = vec![secret.to_string()];
    if secret.len() < 12 {
        return forms;
    }
    for shift in 0..3 {
        let mut bytes = vec![0u8; shift];
        bytes.extend_from_slice(secret.as_bytes());
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
        // Drop the characters mixed with what stands before and after.
        let start = (shift * 4).div_ceil(3) + 1;
        let end = encoded.len().saturating_sub(4);
        if start < end {
            forms.push(encoded[start..end].to_string());
        }
    }
    forms
}

/// The database, and its WAL and shared memory where they remain, read as bytes: none holds an
/// issued token, and each has mode 0600.
pub fn assert_no_secret_at_rest(db: &std::path::Path, min_files: usize) {
    let secrets = issued_secrets();
    assert!(!secrets.is_empty(), "the fake provider issued tokens");
    let mut files = 0;
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        files += 1;
        assert_eq!(file_mode(&path), 0o600, "{}", path.display());
        for secret in &secrets {
            for form in forms(secret) {
                assert!(
                    !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                    "{} holds a token in clear (it starts {:?})",
                    path.display(),
                    &secret[..secret.len().min(8)]
                );
            }
        }
    }
    // The CLI's last connection folds the WAL into the database as it exits.
    assert!(files >= min_files, "the database (and its WAL) were read");
}

pub fn file_mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("file").permissions().mode() & 0o777
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_secret_inside_an_xoauth2_string_is_found_at_every_alignment() {
        use base64::Engine as _;
        let token = "ya29.a0AfH6SMBexampletokenvalue";
        for user in ["a@x.nl", "ab@x.nl", "abc@x.nl"] {
            let sasl = format!("user={user}\x01auth=Bearer {token}\x01\x01");
            let encoded = base64::engine::general_purpose::STANDARD.encode(sasl);
            assert!(
                super::forms(token)
                    .iter()
                    .any(|f| encoded.contains(f.as_str())),
                "{user}"
            );
        }
    }
}
