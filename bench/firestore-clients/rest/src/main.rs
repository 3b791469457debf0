//! Firestore's REST API over reqwest: the calls a store would make, each
//! timed against the emulator. The resource paths and bodies follow the
//! REST reference of `projects.databases.documents` (createDocument, get,
//! runQuery, beginTransaction, commit):
//! https://cloud.google.com/firestore/docs/reference/rest/v1/projects.databases.documents

#[path = "../../common/timing.rs"]
mod timing;

use std::cell::RefCell;

use reqwest::{Client, RequestBuilder};
use serde::Deserialize;
use serde_json::{json, Value};
use timing::{measure, Error, Settings};

const COLLECTION: &str = "bench_rest";

/// The part of a `Document` the store reads back.
#[derive(Deserialize)]
struct Document {
    name: String,
    #[serde(rename = "updateTime")]
    update_time: String,
}

struct Firestore {
    http: Client,
    /// `http://HOST/v1/projects/P/databases/(default)/documents`
    documents: String,
}

impl Firestore {
    fn new(settings: &Settings) -> Result<Self, Error> {
        Ok(Self {
            // A request the emulator never answers fails instead of hanging.
            http: Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            documents: format!(
                "http://{}/v1/projects/{}/databases/(default)/documents",
                settings.emulator, settings.project
            ),
        })
    }

    /// The emulator takes `Bearer owner` as an administrator, whose requests
    /// its security rules do not check: the token Firebase's tools send, and
    /// the one the `firestore` crate sends to `FIRESTORE_EMULATOR_HOST` too.
    async fn send(&self, request: RequestBuilder) -> Result<Value, Error> {
        let response = request.bearer_auth("owner").send().await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            return Err(format!("{status}: {}", body.chars().take(300).collect::<String>()).into());
        }
        Ok(serde_json::from_str(&body)?)
    }

    async fn create(&self, id: &str, count: i64) -> Result<Document, Error> {
        let url = format!("{}/{COLLECTION}", self.documents);
        let body = json!({ "fields": fields(count) });
        let doc = self
            .send(self.http.post(url).query(&[("documentId", id)]).json(&body))
            .await?;
        Ok(serde_json::from_value(doc)?)
    }

    async fn get(&self, id: &str) -> Result<Document, Error> {
        let url = format!("{}/{COLLECTION}/{id}", self.documents);
        Ok(serde_json::from_value(
            self.send(self.http.get(url)).await?,
        )?)
    }

    /// Sets `count` only if the document is unchanged since `update_time`;
    /// answers the new update time. A `commit` of one write, with the
    /// precondition in the body: the emulator reads `patch`'s
    /// `currentDocument.updateTime` query parameter as 0 and refuses every
    /// such update.
    async fn update(&self, name: &str, update_time: &str, count: i64) -> Result<String, Error> {
        let body = json!({
            "writes": [{
                "update": { "name": name, "fields": { "count": integer(count) } },
                "updateMask": { "fieldPaths": ["count"] },
                "currentDocument": { "updateTime": update_time }
            }]
        });
        let url = format!("{}:commit", self.documents);
        let committed = self.send(self.http.post(url).json(&body)).await?;
        let time = committed["writeResults"][0]["updateTime"].as_str();
        Ok(time.ok_or("commit: no updateTime")?.to_owned())
    }

    /// Documents with `low <= count < high`; runQuery answers with a stream of
    /// results, one without `document` when nothing matched.
    async fn range(&self, low: i64, high: i64) -> Result<usize, Error> {
        let url = format!("{}:runQuery", self.documents);
        let bound = |op: &str, value: i64| {
            json!({ "fieldFilter": {
                "field": { "fieldPath": "count" }, "op": op, "value": integer(value)
            }})
        };
        let body = json!({ "structuredQuery": {
            "from": [{ "collectionId": COLLECTION }],
            "where": { "compositeFilter": { "op": "AND", "filters": [
                bound("GREATER_THAN_OR_EQUAL", low), bound("LESS_THAN", high)
            ]}}
        }});
        let results = self.send(self.http.post(url).json(&body)).await?;
        let results = results.as_array().ok_or("runQuery: not an array")?;
        Ok(results
            .iter()
            .filter(|r| r.get("document").is_some())
            .count())
    }

    /// Begin, read the document in the transaction, commit one write.
    async fn transaction(&self, id: &str, name: &str, count: i64) -> Result<(), Error> {
        let begun = self
            .send(
                self.http
                    .post(format!("{}:beginTransaction", self.documents))
                    .json(&json!({})),
            )
            .await?;
        let transaction = begun["transaction"]
            .as_str()
            .ok_or("beginTransaction: no transaction")?;
        // The read goes through batchGet, with the transaction in the body:
        // the emulator cannot read a bytes field from `get`'s query string
        // (it logs "Unmapped JavaType: BYTE_STRING" and never answers).
        let read = json!({ "documents": [name], "transaction": transaction });
        let found = self
            .send(
                self.http
                    .post(format!("{}:batchGet", self.documents))
                    .json(&read),
            )
            .await?;
        if found[0].get("found").is_none() {
            return Err(format!("batchGet: {id} not found").into());
        }
        let body = json!({
            "transaction": transaction,
            "writes": [{
                "update": { "name": name, "fields": { "count": integer(count) } },
                "updateMask": { "fieldPaths": ["count"] }
            }]
        });
        self.send(
            self.http
                .post(format!("{}:commit", self.documents))
                .json(&body),
        )
        .await?;
        Ok(())
    }
}

fn integer(value: i64) -> Value {
    // The REST API writes 64-bit integers as strings.
    json!({ "integerValue": value.to_string() })
}

fn fields(count: i64) -> Value {
    json!({ "owner": { "stringValue": "bench" }, "count": integer(count) })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let settings = Settings::from_env()?;
    let store = Firestore::new(&settings)?;
    let run = timing::run_id();
    let id = |i: usize| format!("{run}-{i}");
    let store = &store;

    let created = RefCell::new(Vec::with_capacity(settings.calls()));
    measure("create", &settings, |i| {
        let (id, created) = (id(i), &created);
        async move {
            let doc = store.create(&id, 1).await?;
            created.borrow_mut().push(doc);
            Ok(())
        }
    })
    .await?;
    let created = created.into_inner();

    measure("get", &settings, |i| {
        let id = id(i);
        async move { store.get(&id).await.map(drop) }
    })
    .await?;

    measure("update (updateTime precondition)", &settings, |i| {
        let doc = &created[i];
        async move { store.update(&doc.name, &doc.update_time, 2).await.map(drop) }
    })
    .await?;

    measure("query (empty range)", &settings, |_| async move {
        match store.range(1_000_000, 2_000_000).await? {
            0 => Ok(()),
            n => Err(format!("expected no documents, got {n}").into()),
        }
    })
    .await?;

    measure("transaction (begin, get, commit)", &settings, |i| {
        let (id, name) = (id(i), created[i].name.clone());
        async move { store.transaction(&id, &name, 3).await }
    })
    .await?;

    // The precondition is real: the first document changed after its
    // creation, so its creation time no longer matches.
    match store
        .update(&created[0].name, &created[0].update_time, 4)
        .await
    {
        Err(e) if e.to_string().contains("FAILED_PRECONDITION") => {
            println!("# stale updateTime refused: yes")
        }
        Err(e) => return Err(format!("stale updateTime: unexpected error {e}").into()),
        Ok(_) => return Err("stale updateTime: the update was applied".into()),
    }
    Ok(())
}
