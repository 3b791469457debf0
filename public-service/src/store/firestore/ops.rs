//! The building blocks every contract is written with: a conditional
//! read-modify-write of one document, writes with preconditions, the
//! queries (each on one field, so that Firestore's automatic single-field
//! indexes serve it), and conditional deletes in bulk.

use serde_json::{json, Value};

use super::client::{Committed, Doc};
use super::value::Fields;
use super::FirestoreStore;
use crate::store::StoreError;

/// Attempts of one read-modify-write before giving up: each failed
/// attempt means another writer changed the document in between, so a
/// handful covers any real contention on one person's data.
const ATTEMPTS: usize = 10;

/// The most writes sent in one request (Firestore's documented limit per
/// commit was 500: <https://cloud.google.com/firestore/quotas#writes_and_transactions>).
pub(super) const MAX_WRITES: usize = 500;

/// What a read-modify-write does with the document it read.
pub(super) enum Step<T> {
    /// Writes these fields (the whole document) and returns the value.
    Write(Fields, T),
    /// Changes nothing and returns the value.
    Leave(T),
}

/// A document id for `raw`: itself when it is plainly safe (letters,
/// digits, `-`, `_`, `.`, not `.`/`..` nor `__…`), else `~` and its hex,
/// which no plain id can be
/// (<https://cloud.google.com/firestore/quotas#collections_documents_and_fields>).
pub(super) fn doc_id(raw: &str) -> String {
    let plain = !raw.is_empty()
        && raw.len() <= 512
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && raw != "."
        && raw != ".."
        && !raw.starts_with("__");
    if plain {
        raw.to_owned()
    } else {
        format!("~{}", hex(raw.as_bytes()))
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The precondition that makes a write fail if `read` is no longer the
/// stored state: its `updateTime`, or that no document exists.
/// (<https://cloud.google.com/firestore/docs/reference/rest/v1/Precondition>)
pub(super) fn unchanged_since(read: Option<&Doc>) -> Value {
    match read {
        Some(doc) => json!({ "updateTime": doc.update_time }),
        None => json!({ "exists": false }),
    }
}

pub(super) fn update(name: String, fields: Fields, precondition: Value) -> Value {
    json!({
        "update": { "name": name, "fields": fields },
        "currentDocument": precondition,
    })
}

pub(super) fn delete(name: String, precondition: Value) -> Value {
    json!({ "delete": name, "currentDocument": precondition })
}

/// `collection` where `field == value` (an equality on one field).
pub(super) fn equal(collection: &str, field: &str, value: Value) -> Value {
    json!({
        "from": [{ "collectionId": collection }],
        "where": { "fieldFilter": {
            "field": { "fieldPath": field }, "op": "EQUAL", "value": value
        }},
    })
}

/// `collection` where `field op value`, ordered by that field (a range
/// on one field), at most `limit`.
pub(super) fn range(collection: &str, field: &str, op: &str, value: Value, limit: usize) -> Value {
    json!({
        "from": [{ "collectionId": collection }],
        "where": { "fieldFilter": {
            "field": { "fieldPath": field }, "op": op, "value": value
        }},
        "orderBy": [
            { "field": { "fieldPath": field }, "direction": "ASCENDING" },
            { "field": { "fieldPath": "__name__" }, "direction": "ASCENDING" },
        ],
        "limit": limit,
    })
}

impl FirestoreStore {
    /// Reads document `id` of `collection`, lets `change` decide, and
    /// writes only if the document is still the one read (its
    /// `updateTime`, or its absence): of two writers that read one state,
    /// exactly one writes, and the other reads again. Every write that
    /// decides a race changes the document (a lease, `used_at`, a
    /// revocation, the version), so its `updateTime` moves; a write that
    /// changes nothing keeps it
    /// (<https://cloud.google.com/firestore/docs/reference/rest/v1/WriteResult>)
    /// and is harmless to repeat (a touch at the same second).
    pub(super) async fn modify<T>(
        &self,
        collection: &str,
        id: &str,
        mut change: impl FnMut(Option<&Doc>) -> Result<Step<T>, StoreError>,
    ) -> Result<T, StoreError> {
        let id = doc_id(id);
        for _ in 0..ATTEMPTS {
            let read = self.client.get(collection, &id).await?;
            match change(read.as_ref())? {
                Step::Leave(value) => return Ok(value),
                Step::Write(fields, value) => {
                    let write = update(
                        self.client.name(collection, &id),
                        fields,
                        unchanged_since(read.as_ref()),
                    );
                    if self.client.commit(vec![write]).await? == Committed::Yes {
                        return Ok(value);
                    }
                }
            }
        }
        Err(contention())
    }

    /// Creates document `id` of `collection`; an existing one is an error.
    pub(super) async fn create(
        &self,
        collection: &str,
        id: &str,
        fields: Fields,
    ) -> Result<(), StoreError> {
        let name = self.client.name(collection, &doc_id(id));
        let write = update(name, fields, json!({ "exists": false }));
        match self.client.commit(vec![write]).await? {
            Committed::Yes => Ok(()),
            Committed::Conflict => Err(StoreError::Unavailable(format!(
                "a document of {collection} with that id already exists"
            ))),
        }
    }

    /// Deletes each of `docs` that is unchanged since read (one that
    /// changed meanwhile may no longer be due), each on its own; how many.
    pub(super) async fn delete_unchanged(
        &self,
        collection: &str,
        docs: &[Doc],
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for chunk in docs.chunks(MAX_WRITES) {
            let writes = chunk
                .iter()
                .map(|d| {
                    delete(
                        self.client.name(collection, &d.id),
                        unchanged_since(Some(d)),
                    )
                })
                .collect();
            let applied = self.client.batch_write(writes).await?;
            deleted += applied.iter().filter(|a| **a).count() as u64;
        }
        Ok(deleted)
    }

    /// Deletes, page by page, what `query_page` finds (a range query with
    /// a limit), each document only if unchanged since read; how many.
    /// Stops at a page that deletes nothing, so a document that keeps
    /// changing cannot hold the purge forever.
    pub(super) async fn purge(
        &self,
        collection: &str,
        query_page: impl Fn() -> Value,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let page = self.client.run_query(query_page()).await?;
            let deleted = self.delete_unchanged(collection, &page).await?;
            total += deleted;
            if page.len() < MAX_WRITES || deleted == 0 {
                return Ok(total);
            }
        }
    }
}

pub(super) fn contention() -> StoreError {
    StoreError::Unavailable("Firestore: too much contention on one document".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_stay_and_others_cannot_meet_them() {
        assert_eq!(doc_id("ada"), "ada");
        assert_eq!(doc_id("1234567890"), "1234567890");
        assert_eq!(doc_id("Ab-_9.x"), "Ab-_9.x");
        assert_eq!(doc_id("a/b"), "~612f62");
        assert_eq!(doc_id(".."), "~2e2e");
        assert_eq!(doc_id("__x__"), "~5f5f785f5f");
        assert_eq!(doc_id(""), "~");
        assert!(doc_id("é").starts_with('~'));
    }
}
