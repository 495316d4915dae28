//! In-memory stand-ins for the host's capabilities, compiled for native tests only: storage, the
//! CRM's inbox, the log and HTTP, with a scripted IMAP server in `imap`, bundled into an `Env`.

mod imap;
mod inbox;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};

pub use imap::{Script, ScriptedConnection, ScriptedSockets, Transcript};
pub use inbox::FakeInbox;

use crate::record::MessageRecord;

use super::{
    Env, Http, HttpFailure, HttpRequest, HttpResponse, JobFailure, KeyValue, KvWrite, Level, Log,
    NormalizeJob, Normalizer, PlatformConfig, StorageFailure,
};

/// The time every fake `Env` is at: 2024-06-01 12:00:00 UTC.
pub const NOW: i64 = 1_717_243_200;

fn clock() -> i64 {
    NOW
}

/// Storage in a map; every batch is applied whole, or refused whole once `fail_writes` is set.
#[derive(Default)]
pub struct FakeKv {
    pub map: RefCell<BTreeMap<String, Vec<u8>>>,
    pub fail_writes: Cell<bool>,
    /// Every write applied, in order: the key, and the value set (`None` for a delete).
    pub history: RefCell<Vec<(String, Option<Vec<u8>>)>>,
}

impl FakeKv {
    /// The value under `key`, read as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let bytes = self.map.borrow().get(key)?.clone();
        Some(serde_json::from_slice(&bytes).expect("stored JSON"))
    }

    /// Every value written under `key`, in order, read as JSON (deletes left out).
    pub fn written<T: serde::de::DeserializeOwned>(&self, key: &str) -> Vec<T> {
        let history = self.history.borrow();
        let values = history.iter().filter(|(k, _)| k == key);
        let values = values.filter_map(|(_, v)| v.as_deref());
        values
            .map(|v| serde_json::from_slice(v).expect("stored JSON"))
            .collect()
    }

    pub fn put_json<T: serde::Serialize>(&self, key: &str, value: &T) {
        let bytes = serde_json::to_vec(value).expect("serialisable");
        self.map.borrow_mut().insert(key.to_string(), bytes);
    }
}

impl KeyValue for FakeKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageFailure> {
        Ok(self.map.borrow().get(key).cloned())
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StorageFailure> {
        let map = self.map.borrow();
        Ok(map
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    fn batch(&self, writes: Vec<KvWrite>) -> Result<(), StorageFailure> {
        if self.fail_writes.get() {
            return Err(StorageFailure("the fake storage refuses writes".into()));
        }
        let mut map = self.map.borrow_mut();
        let mut history = self.history.borrow_mut();
        for write in writes {
            match write {
                KvWrite::Set(key, value) => {
                    history.push((key.clone(), Some(value.clone())));
                    map.insert(key, value);
                }
                KvWrite::Delete(key) => {
                    map.remove(&key);
                    history.push((key, None));
                }
            }
        }
        Ok(())
    }
}

/// One log line as written.
#[derive(Debug, Clone)]
pub struct Line {
    pub level: Level,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

impl Line {
    pub fn field(&self, name: &str) -> Option<&str> {
        let found = self.fields.iter().find(|(n, _)| n == name);
        found.map(|(_, v)| v.as_str())
    }
}

/// Keeps every line.
#[derive(Default)]
pub struct FakeLog {
    pub lines: RefCell<Vec<Line>>,
}

impl FakeLog {
    /// The lines at `level`.
    pub fn at(&self, level: Level) -> Vec<Line> {
        let lines = self.lines.borrow();
        lines.iter().filter(|l| l.level == level).cloned().collect()
    }
}

impl Log for FakeLog {
    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]) {
        self.lines.borrow_mut().push(Line {
            level,
            message: message.to_string(),
            fields: fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        });
    }
}

/// Answers requests in order from a queue, and keeps them; an empty queue is a network failure.
#[derive(Default)]
pub struct FakeHttp {
    pub answers: RefCell<VecDeque<Result<HttpResponse, HttpFailure>>>,
    pub requests: RefCell<Vec<HttpRequest>>,
}

impl FakeHttp {
    /// Queues a response with `status` and a JSON body.
    pub fn respond_json(&self, status: u16, body: &serde_json::Value) {
        self.answers.borrow_mut().push_back(Ok(HttpResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }));
    }
}

impl Http for FakeHttp {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        self.requests.borrow_mut().push(request);
        let next = self.answers.borrow_mut().pop_front();
        next.unwrap_or_else(|| Err(HttpFailure::Network("no scripted answer".into())))
    }
}

/// A host without other instances: every job is given back, for the caller to normalise.
#[derive(Default)]
pub struct NoWorkers;

impl Normalizer for NoWorkers {
    fn submit(&self, _ticket: u64, job: NormalizeJob) -> Result<(), Vec<u8>> {
        Err(job.bytes)
    }
    fn finished(&self, _wait: bool) -> Vec<(u64, Result<MessageRecord, JobFailure>)> {
        Vec::new()
    }
}

/// Every capability in memory, with the host's default settings; `env` lends them to a call.
#[derive(Default)]
pub struct Fakes {
    pub http: FakeHttp,
    pub imap: ScriptedSockets,
    pub kv: FakeKv,
    pub inbox: FakeInbox,
    pub log: FakeLog,
    pub normalizer: NoWorkers,
    pub submission: NoSubmission,
    pub config: PlatformConfig,
}

/// A host that lends no submission socket (as for every call but `send`).
#[derive(Default)]
pub struct NoSubmission;

impl super::Submissions for NoSubmission {
    fn open(
        &self,
        _host: &str,
        _port: u16,
        _security: crate::model::ImapSecurity,
    ) -> Result<Box<dyn super::SubmissionConnection>, super::SubmissionFailure> {
        Err(super::SubmissionFailure::Refused(
            "the submission socket is lent to send calls only".into(),
        ))
    }
}

impl Fakes {
    pub fn env(&self) -> Env<'_> {
        Env {
            http: &self.http,
            imap: &self.imap,
            submission: &self.submission,
            kv: &self.kv,
            inbox: &self.inbox,
            log: &self.log,
            normalizer: &self.normalizer,
            config: self.config.clone(),
            now: NOW,
            clock,
        }
    }
}
