//! A small client of Firestore's REST API
//! (<https://cloud.google.com/firestore/docs/reference/rest>): `get`,
//! `runQuery`, `commit` (atomic, with preconditions) and `batchWrite`
//! (each write on its own).
//!
//! Every call is bounded by the store's timeout. A failure is described by
//! its kind and Google's status name (`ABORTED`, `PERMISSION_DENIED`, …),
//! never by the response body, which may quote stored values. Reads,
//! writes and deletes are counted as Firestore bills them
//! (<https://cloud.google.com/firestore/pricing>): each document a get or
//! a query returns is a read, a query that returns nothing is one read, and
//! each write or delete of a commit that succeeds counts once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use handoff_guard::login_service::describe_http_error as describe;

use super::auth::Auth;
use super::value::Fields;
use crate::store::{Operations, StoreError};

/// The largest answer read from the API (a page of 500 sessions fits).
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
    deletes: AtomicU64,
}

/// A stored document: its id (the last segment of its name), fields and
/// `updateTime`, which a conditional write names.
#[derive(Debug, Clone)]
pub(super) struct Doc {
    pub id: String,
    pub fields: Fields,
    pub update_time: String,
}

/// How a commit ended, when the API answered.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Committed {
    Yes,
    /// A precondition failed, the document existed, or the commit was
    /// aborted by contention: read again and retry.
    Conflict,
}

pub(super) struct Client {
    http: reqwest::Client,
    auth: Auth,
    /// `…/v1/projects/P/databases/D/documents`.
    documents_url: String,
    /// `projects/P/databases/D/documents`, the prefix of document names.
    documents_name: String,
    timeout: Duration,
    counters: Counters,
    answered: AtomicBool,
}

/// A refusal by the API: the HTTP status and Google's status name.
struct Refusal {
    http: u16,
    status: String,
}

impl Client {
    pub(super) fn new(
        http: reqwest::Client,
        auth: Auth,
        documents_url: String,
        database_path: &str,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            auth,
            documents_url,
            documents_name: format!("{database_path}/documents"),
            timeout,
            counters: Counters::default(),
            answered: AtomicBool::new(false),
        }
    }

    pub(super) fn operations(&self) -> Operations {
        Operations {
            reads: self.counters.reads.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
            deletes: self.counters.deletes.load(Ordering::Relaxed),
        }
    }

    /// Whether the API has answered at least once since start.
    pub(super) fn has_answered(&self) -> bool {
        self.answered.load(Ordering::Acquire)
    }

    /// The full name of document `id` of `collection`.
    pub(super) fn name(&self, collection: &str, id: &str) -> String {
        format!("{}/{collection}/{id}", self.documents_name)
    }

    /// One document, or `None`.
    pub(super) async fn get(&self, collection: &str, id: &str) -> Result<Option<Doc>, StoreError> {
        let url = format!("{}/{collection}/{id}", self.documents_url);
        match self.call(Method::GET, &url, None).await? {
            Ok(body) => {
                self.count(&self.counters.reads, 1);
                Ok(Some(doc(&body)?))
            }
            Err(r) if r.http == 404 => {
                // A get of an absent document is billed as a read too.
                self.count(&self.counters.reads, 1);
                Ok(None)
            }
            Err(r) => Err(refused(&r)),
        }
    }

    /// The documents a structured query returns.
    pub(super) async fn run_query(&self, query: Value) -> Result<Vec<Doc>, StoreError> {
        let body = json!({ "structuredQuery": query });
        let url = format!("{}:runQuery", self.documents_url);
        let answer = self
            .call(Method::POST, &url, Some(&body))
            .await?
            .map_err(|r| refused(&r))?;
        let results = answer
            .as_array()
            .ok_or_else(|| StoreError::Unavailable("a query answered no results list".into()))?;
        let docs = results
            .iter()
            .filter_map(|r| r.get("document"))
            .map(doc)
            .collect::<Result<Vec<_>, _>>()?;
        // A query that returns nothing is billed one read.
        self.count(&self.counters.reads, docs.len().max(1) as u64);
        Ok(docs)
    }

    /// Applies `writes` atomically: all of them, or none if any
    /// precondition fails.
    pub(super) async fn commit(&self, writes: Vec<Value>) -> Result<Committed, StoreError> {
        let (updates, deletes) = tally(&writes);
        let body = json!({ "writes": writes });
        let url = format!("{}:commit", self.documents_url);
        match self.call(Method::POST, &url, Some(&body)).await? {
            Ok(_) => {
                self.count(&self.counters.writes, updates);
                self.count(&self.counters.deletes, deletes);
                Ok(Committed::Yes)
            }
            Err(r) if is_conflict(&r.status) => Ok(Committed::Conflict),
            Err(r) => Err(refused(&r)),
        }
    }

    /// Applies each of `writes` on its own (not atomically); whether each
    /// was applied. A write whose precondition failed is `false`.
    pub(super) async fn batch_write(&self, writes: Vec<Value>) -> Result<Vec<bool>, StoreError> {
        let count = writes.len();
        if count == 0 {
            return Ok(Vec::new());
        }
        let kinds: Vec<bool> = writes.iter().map(|w| w.get("delete").is_some()).collect();
        let url = format!("{}:batchWrite", self.documents_url);
        let answer = self
            .call(Method::POST, &url, Some(&json!({ "writes": writes })))
            .await?
            .map_err(|r| refused(&r))?;
        let statuses = answer.get("status").and_then(Value::as_array);
        let applied: Vec<bool> = (0..count)
            .map(|i| {
                let code = statuses
                    .and_then(|s| s.get(i))
                    .and_then(|s| s.get("code"))
                    .and_then(Value::as_i64);
                code.unwrap_or(0) == 0
            })
            .collect();
        for (applied, is_delete) in applied.iter().zip(kinds) {
            if *applied {
                let counter = if is_delete {
                    &self.counters.deletes
                } else {
                    &self.counters.writes
                };
                self.count(counter, 1);
            }
        }
        Ok(applied)
    }

    /// One bounded round trip: `Ok(Ok(body))` for a success, `Ok(Err(_))`
    /// for an answered refusal, `Err` when there was no usable answer.
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Result<Value, Refusal>, StoreError> {
        match tokio::time::timeout(self.timeout, self.exchange(method, url, body)).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable("Firestore timed out".into())),
        }
    }

    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Result<Value, Refusal>, StoreError> {
        let authorization = self.auth.header().await?;
        let mut authorization =
            HeaderValue::from_str(authorization.expose_secret()).map_err(|_| {
                StoreError::Unavailable("the access token is not a header value".into())
            })?;
        // Kept out of any debug output of the request.
        authorization.set_sensitive(true);
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, authorization);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| unreachable(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| unreachable(&e))?;
        // Found or not found, the path and the credentials work; a
        // refusal (403, 401) does not make the store ready.
        if status.is_success() || status.as_u16() == 404 {
            self.answered.store(true, Ordering::Release);
        }
        if bytes.len() > MAX_BODY {
            return Err(StoreError::Unavailable(
                "Firestore answered too much".into(),
            ));
        }
        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            let value = parsed.ok_or_else(|| {
                StoreError::Unavailable("Firestore answered something that is not JSON".into())
            })?;
            return Ok(Ok(value));
        }
        let google_status = parsed
            .as_ref()
            .and_then(|v| v.pointer("/error/status"))
            .and_then(Value::as_str)
            .filter(|s| s.len() <= 40 && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .unwrap_or("UNKNOWN")
            .to_owned();
        Ok(Err(Refusal {
            http: status.as_u16(),
            status: google_status,
        }))
    }

    fn count(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Google's status names that mean "someone else changed it first"
/// (<https://cloud.google.com/firestore/docs/understand-error-codes>).
fn is_conflict(status: &str) -> bool {
    matches!(
        status,
        "ABORTED" | "FAILED_PRECONDITION" | "ALREADY_EXISTS" | "NOT_FOUND"
    )
}

fn refused(r: &Refusal) -> StoreError {
    StoreError::Unavailable(format!("Firestore refused: {} {}", r.http, r.status))
}

fn unreachable(e: &reqwest::Error) -> StoreError {
    StoreError::Unavailable(format!("Firestore could not be reached ({})", describe(e)))
}

/// How many of `writes` are updates and how many deletes.
fn tally(writes: &[Value]) -> (u64, u64) {
    let deletes = writes.iter().filter(|w| w.get("delete").is_some()).count() as u64;
    (writes.len() as u64 - deletes, deletes)
}

fn doc(value: &Value) -> Result<Doc, StoreError> {
    let malformed = || StoreError::Corrupt("a document without a name or update time".into());
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(malformed)?;
    let id = name.rsplit('/').next().unwrap_or_default().to_owned();
    let update_time = value
        .get("updateTime")
        .and_then(Value::as_str)
        .ok_or_else(malformed)?
        .to_owned();
    let fields = match value.get("fields") {
        None => Fields::new(),
        Some(f) => f.as_object().cloned().ok_or_else(malformed)?,
    };
    Ok(Doc {
        id,
        fields,
        update_time,
    })
}
