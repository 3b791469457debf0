//! The same calls as the REST variant through the `firestore` crate's
//! fluent API (https://docs.rs/firestore; its lower-level document calls are
//! not public), which speaks gRPC with tonic. With
//! `FIRESTORE_EMULATOR_HOST` set it connects to the emulator in plain text
//! and sends no credentials of its own.

#[path = "../../common/timing.rs"]
mod timing;

use std::cell::RefCell;
use std::collections::HashMap;

use firestore::gcloud_sdk::google::firestore::v1::{value::ValueType, Document, Value};
use firestore::timestamp_utils::from_timestamp;
use firestore::*;
use serde::{Deserialize, Serialize};
use timing::{measure, Error, Settings};

const COLLECTION: &str = "bench_grpc";

#[derive(Serialize, Deserialize)]
struct Count {
    count: i64,
}

fn value(value_type: ValueType) -> Value {
    Value {
        value_type: Some(value_type),
    }
}

fn fields(count: i64, with_owner: bool) -> HashMap<String, Value> {
    let mut fields = HashMap::from([("count".to_owned(), value(ValueType::IntegerValue(count)))]);
    if with_owner {
        fields.insert(
            "owner".to_owned(),
            value(ValueType::StringValue("bench".into())),
        );
    }
    fields
}

/// Sets `count` only if the document is unchanged since `created`'s update time.
async fn update(db: &FirestoreDb, created: &Document, count: i64) -> Result<Document, Error> {
    let update_time = created.update_time.ok_or("a document without updateTime")?;
    let doc = Document {
        name: created.name.clone(),
        fields: fields(count, false),
        ..Document::default()
    };
    Ok(db
        .fluent()
        .update()
        .fields(["count"])
        .in_col(COLLECTION)
        .precondition(FirestoreWritePrecondition::UpdateTime(from_timestamp(
            update_time,
        )?))
        .document(doc)
        .execute()
        .await?)
}

/// The document, which the emulator must have.
async fn get(db: &FirestoreDb, id: &str) -> Result<Document, Error> {
    let found = db.fluent().select().by_id_in(COLLECTION).one(id).await?;
    Ok(found.ok_or("no such document")?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let settings = Settings::from_env()?;
    let db = FirestoreDb::new(&settings.project).await?;
    let run = timing::run_id();
    let id = |i: usize| format!("{run}-{i}");
    let db = &db;

    let created = RefCell::new(Vec::with_capacity(settings.calls()));
    measure("create", &settings, |i| {
        let (id, created) = (id(i), &created);
        async move {
            let input = Document {
                fields: fields(1, true),
                ..Document::default()
            };
            let doc = db
                .fluent()
                .insert()
                .into(COLLECTION)
                .document_id(&id)
                .document(input)
                .execute()
                .await?;
            created.borrow_mut().push(doc);
            Ok(())
        }
    })
    .await?;
    let created = created.into_inner();

    measure("get", &settings, |i| {
        let id = id(i);
        async move { get(db, &id).await.map(drop) }
    })
    .await?;

    measure("update (updateTime precondition)", &settings, |i| {
        let created = &created[i];
        async move { update(db, created, 2).await.map(drop) }
    })
    .await?;

    measure("query (empty range)", &settings, |_| async move {
        let found = db
            .fluent()
            .select()
            .from(COLLECTION)
            .filter(|q| {
                q.for_all([
                    q.field("count").greater_than_or_equal(1_000_000i64),
                    q.field("count").less_than(2_000_000i64),
                ])
            })
            .query()
            .await?;
        match found.len() {
            0 => Ok(()),
            n => Err(format!("expected no documents, got {n}").into()),
        }
    })
    .await?;

    measure("transaction (begin, get, commit)", &settings, |i| {
        let id = id(i);
        async move {
            let mut transaction = db.begin_transaction().await?;
            let selector =
                FirestoreConsistencySelector::Transaction(transaction.transaction_id().clone());
            get(&db.clone_with_consistency_selector(selector), &id).await?;
            db.fluent()
                .update()
                .fields(["count"])
                .in_col(COLLECTION)
                .document_id(&id)
                .object(&Count { count: 3 })
                .add_to_transaction(&mut transaction)?;
            transaction.commit().await?;
            Ok(())
        }
    })
    .await?;

    // The precondition is real: the first document changed after its
    // creation, so its creation time no longer matches.
    match update(db, &created[0], 4).await {
        Err(e)
            if format!("{e:?}").contains("FailedPrecondition")
                || e.to_string().contains("FAILED_PRECONDITION") =>
        {
            println!("# stale updateTime refused: yes")
        }
        Err(e) => return Err(format!("stale updateTime: unexpected error {e:?}").into()),
        Ok(_) => return Err("stale updateTime: the update was applied".into()),
    }
    Ok(())
}
