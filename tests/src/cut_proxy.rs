//! A TCP proxy in front of Dovecot that can cut a connection in the middle of a server's answer:
//! after a given number of bytes from the server, once, calling a hook first (to let a token
//! expire at that moment, say); or every connection at once, and refuse new ones for a while,
//! or take them and never answer (a stalled server).
//! TLS passes through it untouched.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Hook = Box<dyn FnOnce() + Send>;

pub struct CutProxy {
    pub port: u16,
    target: Arc<AtomicU16>,
    /// Cut the next connection after this many server bytes (0: never); disarmed after one cut.
    cut_after: Arc<AtomicU64>,
    on_cut: Arc<Mutex<Option<Hook>>>,
    cuts: Arc<AtomicU64>,
    /// Connections accepted so far (refused ones too).
    accepted: Arc<AtomicU64>,
    refusing: Arc<AtomicBool>,
    /// Accept, then never answer (connections held here).
    stalling: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    /// Bumped to cut every connection open now.
    kill: tokio::sync::watch::Sender<u64>,
}

impl CutProxy {
    /// A proxy with no target yet (`set_target`): its port can go into settings first.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let target = Arc::new(AtomicU16::new(0));
        let t = target.clone();
        let cut_after = Arc::new(AtomicU64::new(0));
        let on_cut: Arc<Mutex<Option<Hook>>> = Arc::new(Mutex::new(None));
        let cuts = Arc::new(AtomicU64::new(0));
        let accepted = Arc::new(AtomicU64::new(0));
        let refusing = Arc::new(AtomicBool::new(false));
        let stalling = Arc::new(AtomicBool::new(false));
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (kill, killed) = tokio::sync::watch::channel(0u64);
        let (c, h, n) = (cut_after.clone(), on_cut.clone(), cuts.clone());
        let (a, r) = (accepted.clone(), refusing.clone());
        let (st, hd) = (stalling.clone(), held.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                if r.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                if st.load(Ordering::SeqCst) {
                    hd.lock().expect("held").push(client);
                    continue;
                }
                let target_port = t.load(Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
                    continue;
                };
                let cut = Cut {
                    after: c.clone(),
                    hook: h.clone(),
                    count: n.clone(),
                    killed: killed.clone(),
                };
                tokio::spawn(relay(client, server, cut));
            }
        });
        CutProxy {
            port,
            target,
            cut_after,
            on_cut,
            cuts,
            accepted,
            refusing,
            stalling,
            held,
            kill,
        }
    }

    /// From now on (`true`), connections are accepted and then never answered: a server that
    /// stalls. Connections held so far are kept until `false`.
    pub fn stall(&self, stalling: bool) {
        self.stalling.store(stalling, Ordering::SeqCst);
        if !stalling {
            self.held.lock().expect("held").clear();
        }
    }

    /// Connections accepted while stalling and still held open.
    pub fn stalled(&self) -> usize {
        self.held.lock().expect("held").len()
    }

    pub fn set_target(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
    }

    /// `imaps://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("imaps://127.0.0.1:{}", self.port)
    }

    /// Cuts the next connection once `bytes` have come from the server, running `hook` first.
    pub fn cut_after(&self, bytes: u64, hook: Option<Hook>) {
        *self.on_cut.lock().expect("hook") = hook;
        self.cut_after.store(bytes, Ordering::SeqCst);
    }

    /// How many connections were cut so far.
    pub fn cuts(&self) -> u64 {
        self.cuts.load(Ordering::SeqCst)
    }

    /// Cuts every connection open now.
    pub fn cut_all(&self) {
        self.kill.send_modify(|generation| *generation += 1);
    }

    /// While `refusing`, new connections are accepted and closed at once.
    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Connections accepted so far, refused ones included.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// How and when one relayed connection is cut.
struct Cut {
    after: Arc<AtomicU64>,
    hook: Arc<Mutex<Option<Hook>>>,
    count: Arc<AtomicU64>,
    killed: tokio::sync::watch::Receiver<u64>,
}

async fn relay(client: TcpStream, server: TcpStream, cut: Cut) {
    let Cut {
        after: cut_after,
        hook: on_cut,
        count: cuts,
        mut killed,
    } = cut;
    killed.mark_unchanged();
    let limit = cut_after.load(Ordering::SeqCst);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    });
    let mut sent = 0u64;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = server_read.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = killed.changed() => break,
        };
        let allowed = if limit > 0 {
            (limit - sent.min(limit)).min(n as u64) as usize
        } else {
            n
        };
        if client_write.write_all(&buf[..allowed]).await.is_err() {
            break;
        }
        sent += allowed as u64;
        if limit > 0 && sent >= limit {
            cut_after.store(0, Ordering::SeqCst);
            if let Some(hook) = on_cut.lock().expect("hook").take() {
                hook();
            }
            cuts.fetch_add(1, Ordering::SeqCst);
            break;
        }
    }
    upstream.abort();
    let _ = client_write.shutdown().await;
}
