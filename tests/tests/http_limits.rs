//! What one client may take of a node's HTTP server: a client that sends its header slowly, or
//! nothing at all, is cut off after the header-read timeout and its descriptor given back; the
//! connections open at once are capped (the rest wait, and are served once room frees); a body
//! over the limit is refused with 413; and requests that wait on a database writer held elsewhere
//! hold up no other request.

use std::time::{Duration, Instant};

use host_harness::service::{self, RunningService};
use reqwest::StatusCode;
use tests::oauth_world::OAuthWorld;
use tests::panel_client::{PLATFORM_TOKEN as TOKEN, login_path, service_settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

async fn serve(
    w: &OAuthWorld,
    max_connections: usize,
) -> (RunningService, CancellationToken, String) {
    serve_with(w, |http| http.max_connections = max_connections).await
}

/// `serve`, its HTTP limits changed by `configure`.
async fn serve_with(
    w: &OAuthWorld,
    configure: impl FnOnce(&mut host_harness::service::http_server::HttpLimits),
) -> (RunningService, CancellationToken, String) {
    let mut config = service_settings();
    config.http.header_read_timeout_secs = HEADER_TIMEOUT.as_secs();
    config.http.max_body_bytes = 64 * 1024;
    configure(&mut config.http);
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), config, stop.clone())
        .await
        .expect("the service starts");
    let base = format!("http://{}", running.address);
    (running, stop, base)
}

/// Another process's transaction holding the SQLite file's one writer, until `release` is sent
/// (or 30 s pass); returns once it holds it.
async fn hold_writer(
    path: std::path::PathBuf,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held_tx, held) = tokio::sync::oneshot::channel();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&path).expect("a second connection");
        conn.execute_batch("BEGIN IMMEDIATE").expect("the writer");
        let _ = held_tx.send(());
        let _ = released.recv_timeout(Duration::from_secs(30));
        conn.execute_batch("COMMIT").expect("commit");
    });
    held.await.expect("held");
    (release, holder)
}

/// This process's open descriptors (the service runs in it).
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// A client that sends a request's header one line every 300 ms, for ever; how long until the
/// server closed its connection (none if it never did within `limit`).
async fn slow_header(address: std::net::SocketAddr, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .ok()?;
    let mut buf = [0u8; 256];
    while started.elapsed() < limit {
        let line = stream.write_all(b"X-Slow: yes\r\n").await;
        let read = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await;
        match (line, read) {
            (Err(_), _) | (_, Ok(Ok(0) | Err(_))) => return Some(started.elapsed()),
            // A 408 or any answer before the header ended is also the server cutting it off.
            (_, Ok(Ok(_))) => return Some(started.elapsed()),
            (Ok(()), Err(_)) => {}
        }
    }
    None
}

/// A client that connects and says nothing; how long until the server closed it.
async fn silent(address: std::net::SocketAddr, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let mut buf = [0u8; 256];
    match tokio::time::timeout(limit, stream.read(&mut buf)).await {
        Ok(_) => Some(started.elapsed()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_clients_are_cut_off_and_their_descriptors_given_back() {
    let w = OAuthWorld::start().await;
    let (running, stop, base) = serve(&w, 1024).await;
    let http = tests::http_client();
    let health = || async {
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .map(|r| r.status())
    };
    assert_eq!(health().await.expect("healthz"), StatusCode::OK);
    let baseline = open_descriptors();

    let limit = Duration::from_secs(20);
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..60 {
        let address = running.address;
        if i % 2 == 0 {
            clients.spawn(slow_header(address, limit));
        } else {
            clients.spawn(silent(address, limit));
        }
    }
    // While they hang on, others are served.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(health().await.expect("healthz"), StatusCode::OK);

    let mut cut = Vec::new();
    while let Some(after) = clients.join_next().await {
        cut.push(after.expect("the client ran"));
    }
    for after in &cut {
        let after = after.expect("a slow or silent client was never cut off");
        assert!(
            after >= HEADER_TIMEOUT - Duration::from_millis(100),
            "cut off before the header-read timeout: {after:?}"
        );
    }
    // Every descriptor the clients took is given back.
    let started = Instant::now();
    loop {
        let now = open_descriptors();
        if now <= baseline {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{now} descriptors open, {baseline} before the slow clients"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    running.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_a_large_body_is_refused() {
    let w = OAuthWorld::start().await;
    let (running, stop, base) = serve(&w, 4).await;
    let http = tests::http_client();

    // Four silent clients fill the node: a fifth waits until the header timeout frees room.
    let mut holders = Vec::new();
    for _ in 0..4 {
        holders.push(TcpStream::connect(running.address).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let answered = http
        .get(format!("{base}/healthz"))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("answered once room frees");
    assert_eq!(answered.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= HEADER_TIMEOUT - Duration::from_millis(500),
        "answered while every connection was taken: {:?}",
        started.elapsed()
    );
    drop(holders);

    // A body over the limit is refused, and nothing of it is taken up.
    let large =
        serde_json::json!({ "link_mailbox": true, "providers": {}, "x": "a".repeat(100_000) });
    let refused = http
        .put(format!("{base}/api/v1/settings"))
        .bearer_auth(TOKEN)
        .json(&large)
        .send()
        .await
        .expect("an answer");
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    stop.cancel();
    running.stopped().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_waiting_on_a_held_database_writer_hold_up_no_other_request() {
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("mailsync.db");
    let db = host_harness::db::Database::open(&path).expect("the database");
    let w = OAuthWorld::on_database(db).await;
    let (running, stop, base) = serve(&w, 1024).await;
    let http = tests::http_client();
    let mut tickets = Vec::new();
    for i in 0..16 {
        let path = login_path(&base, &format!("u{i}"), "m1", false).await;
        tickets.push(path.split_once("ticket=").unwrap().1.to_string());
    }

    // Another process's transaction holds the one writer.
    let (release, holder) = hold_writer(path).await;

    // Sixteen sign-ins wait for the writer, more than the service has async workers...
    let mut sign_ins = tokio::task::JoinSet::new();
    for ticket in tickets {
        let (http, base) = (http.clone(), base.clone());
        sign_ins.spawn(async move {
            http.post(format!("{base}/panel/login"))
                .header("origin", &base)
                .form(&[("ticket", ticket)])
                .send()
                .await
                .map(|r| r.status())
        });
    }
    // ...and the node still answers what needs no writer, before the writer is let go. (Asked
    // from a runtime of its own, so a stalled service cannot stall the asking too.)
    let asking = base.clone();
    let answers = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let http = tests::http_client();
            let mut answers = Vec::new();
            for path in ["/healthz", "/metrics"] {
                let answer = http
                    .get(format!("{asking}{path}"))
                    .timeout(Duration::from_secs(8))
                    .send()
                    .await
                    .map(|r| r.status())
                    .map_err(|e| format!("{path} stalled behind the held writer: {e}"));
                answers.push(answer);
            }
            answers
        })
    })
    .join()
    .expect("the asking thread");
    for answer in answers {
        assert_eq!(answer, Ok(StatusCode::OK));
    }
    release.send(()).expect("release");
    holder.join().expect("the holder");
    while let Some(done) = sign_ins.join_next().await {
        let status = done.expect("ran").expect("every sign-in is answered");
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "signed in once the writer is free"
        );
    }
    stop.cancel();
    running.stopped().await.unwrap();
}

/// A request whose answer has not begun within `request_timeout_secs` (a sign-in waiting on a
/// database writer held elsewhere) gets 503 then; an event stream, whose answer begins at once,
/// stays open past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_not_answered_in_time_gets_503_and_an_event_stream_outlives_the_limit() {
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("mailsync.db");
    let db = host_harness::db::Database::open(&path).expect("the database");
    let w = OAuthWorld::on_database(db).await;
    let (running, stop, base) = serve_with(&w, |http| {
        http.request_timeout_secs = REQUEST_TIMEOUT.as_secs()
    })
    .await;
    let http = tests::http_client();
    let ticket_path = login_path(&base, "u1", "m1", false).await;
    let ticket = ticket_path.split_once("ticket=").unwrap().1.to_string();

    // An event stream opened before: it must outlive the request timeout.
    let mut stream = http
        .get(format!("{base}/api/v1/events/stream"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(stream.status(), StatusCode::OK);

    let (release, holder) = hold_writer(path).await;
    let asked = Instant::now();
    let status = http
        .post(format!("{base}/panel/login"))
        .header("origin", &base)
        .form(&[("ticket", ticket)])
        .timeout(Duration::from_secs(9))
        .send()
        .await
        .expect("answered before the database's own 10 s wait")
        .status();
    let took = asked.elapsed();
    release.send(()).expect("release");
    holder.join().expect("the holder");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took >= REQUEST_TIMEOUT, "answered after {took:?}");

    // The stream, open for longer than the limit by now, still delivers: a new event arrives.
    assert!(asked.elapsed() > REQUEST_TIMEOUT);
    running
        .context
        .events
        .record(host_harness::service::events::Event::linked("m1", None))
        .await;
    let mut seen = String::new();
    let until = Instant::now() + Duration::from_secs(10);
    while !seen.contains("mailbox.linked") {
        let chunk = tokio::time::timeout_at(until.into(), stream.chunk())
            .await
            .expect("the stream delivers within 10 s")
            .expect("the stream is still open")
            .expect("a chunk, not the end");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    stop.cancel();
    running.stopped().await.unwrap();
}
