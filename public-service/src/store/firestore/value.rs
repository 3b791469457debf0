//! Firestore's typed `Value` JSON, both ways
//! (<https://cloud.google.com/firestore/docs/reference/rest/v1/Value>):
//! `integerValue` is a decimal string, `bytesValue` standard base64,
//! `timestampValue` RFC 3339, an absent optional field is `nullValue`.
//! A stored field of the wrong type reads as [`StoreError::Corrupt`],
//! never as absent.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::store::StoreError;

/// A document's fields, as written.
pub(super) type Fields = Map<String, Value>;

pub(super) fn string(s: &str) -> Value {
    json!({ "stringValue": s })
}

pub(super) fn integer(n: i64) -> Value {
    json!({ "integerValue": n.to_string() })
}

/// Unix seconds, kept as integers so that ranges and order are exact.
pub(super) fn seconds(s: u64) -> Value {
    integer(i64::try_from(s).unwrap_or(i64::MAX))
}

pub(super) fn bytes(b: &[u8]) -> Value {
    json!({ "bytesValue": STANDARD.encode(b) })
}

pub(super) fn null() -> Value {
    json!({ "nullValue": null })
}

pub(super) fn array(values: Vec<Value>) -> Value {
    json!({ "arrayValue": { "values": values } })
}

pub(super) fn map(fields: Fields) -> Value {
    json!({ "mapValue": { "fields": fields } })
}

pub(super) fn optional<T: ?Sized>(value: Option<&T>, encode: impl Fn(&T) -> Value) -> Value {
    value.map_or_else(null, encode)
}

/// Unix seconds as a `timestampValue`: the type a TTL policy reads
/// (<https://cloud.google.com/firestore/docs/ttl#ttl_field>).
pub(super) fn timestamp(unix: u64) -> Value {
    let (date, time) = (unix / 86_400, unix % 86_400);
    let (year, month, day) = civil_from_days(date);
    let text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3600,
        time % 3600 / 60,
        time % 60
    );
    json!({ "timestampValue": text })
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days that are not negative).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A field read from a stored document: `None` when absent or null.
pub(super) fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a Value> {
    fields.get(name).filter(|v| v.get("nullValue").is_none())
}

fn corrupt(name: &str) -> StoreError {
    StoreError::Corrupt(format!("field {name}"))
}

pub(super) fn read_string(fields: &Fields, name: &str) -> Result<Option<String>, StoreError> {
    field(fields, name)
        .map(|v| as_string(v).ok_or_else(|| corrupt(name)))
        .transpose()
}

pub(super) fn as_string(value: &Value) -> Option<String> {
    value.get("stringValue")?.as_str().map(str::to_owned)
}

pub(super) fn read_integer(fields: &Fields, name: &str) -> Result<Option<i64>, StoreError> {
    field(fields, name)
        .map(|v| as_integer(v).ok_or_else(|| corrupt(name)))
        .transpose()
}

pub(super) fn as_integer(value: &Value) -> Option<i64> {
    value.get("integerValue")?.as_str()?.parse().ok()
}

pub(super) fn read_seconds(fields: &Fields, name: &str) -> Result<Option<u64>, StoreError> {
    Ok(read_integer(fields, name)?.map(|n| u64::try_from(n).unwrap_or(0)))
}

pub(super) fn read_bytes(fields: &Fields, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    field(fields, name)
        .map(|v| {
            v.get("bytesValue")
                .and_then(Value::as_str)
                .and_then(|b| STANDARD.decode(b).ok())
                .ok_or_else(|| corrupt(name))
        })
        .transpose()
}

/// The elements of an `arrayValue` (an empty array has no `values`).
pub(super) fn read_array<'a>(fields: &'a Fields, name: &str) -> Result<&'a [Value], StoreError> {
    let Some(value) = field(fields, name) else {
        return Ok(&[]);
    };
    let array = value.get("arrayValue").ok_or_else(|| corrupt(name))?;
    match array.get("values") {
        None => Ok(&[]),
        Some(values) => values
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| corrupt(name)),
    }
}

/// The fields of a `mapValue` (an empty map has no `fields`).
pub(super) fn as_map(value: &Value) -> Option<Fields> {
    let map = value.get("mapValue")?;
    match map.get("fields") {
        None => Some(Fields::new()),
        Some(fields) => fields.as_object().cloned(),
    }
}

/// A required field: absent is as corrupt as mistyped.
pub(super) fn required<T>(
    value: Result<Option<T>, StoreError>,
    name: &str,
) -> Result<T, StoreError> {
    value?.ok_or_else(|| corrupt(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_written() {
        let mut fields = Fields::new();
        fields.insert("n".into(), integer(-42));
        fields.insert("s".into(), string("ada"));
        fields.insert("b".into(), bytes(&[0, 255, 7]));
        fields.insert("z".into(), null());
        assert_eq!(read_integer(&fields, "n").unwrap(), Some(-42));
        assert_eq!(read_string(&fields, "s").unwrap().as_deref(), Some("ada"));
        assert_eq!(read_bytes(&fields, "b").unwrap(), Some(vec![0, 255, 7]));
        assert_eq!(read_string(&fields, "z").unwrap(), None);
        assert_eq!(read_string(&fields, "absent").unwrap(), None);
        assert!(
            read_integer(&fields, "s").is_err(),
            "a mistyped field is corrupt"
        );
    }

    #[test]
    fn timestamps_are_rfc_3339_in_utc() {
        assert_eq!(timestamp(0)["timestampValue"], "1970-01-01T00:00:00Z");
        assert_eq!(
            timestamp(1_700_000_000)["timestampValue"],
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            timestamp(951_782_400)["timestampValue"],
            "2000-02-29T00:00:00Z"
        );
    }
}
