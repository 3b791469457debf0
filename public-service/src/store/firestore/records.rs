//! The stored form of grants and sessions, both ways.

use serde_json::Value;

use super::client::Doc;
use super::value::{
    array, as_integer, as_map, as_string, bytes, integer, map, optional, read_array, read_bytes,
    read_integer, read_seconds, read_string, required, seconds, string, timestamp, Fields,
};
use crate::scopes::canonicalised;
use crate::store::{GrantRecord, SessionRecord};
use crate::token_cipher::Sealed;

/// A grant as stored: the record and who holds its lease.
pub(super) struct StoredGrant {
    pub record: GrantRecord,
    pub lease_id: Option<String>,
}

impl StoredGrant {
    pub(super) fn read(doc: &Doc) -> Result<Self, crate::store::StoreError> {
        let f = &doc.fields;
        let access = sealed(
            read_bytes(f, "access_token")?,
            read_string(f, "access_token_key_id")?,
        )
        .zip(read_seconds(f, "access_token_expires_at")?);
        let scopes = read_string(f, "scopes")?.unwrap_or_default();
        let lease_id = read_string(f, "lease_id")?;
        Ok(Self {
            record: GrantRecord {
                subject: required(read_string(f, "subject"), "subject")?,
                email: required(read_string(f, "email"), "email")?,
                hosted_domain: read_string(f, "hosted_domain")?,
                scopes: canonicalised(&scopes.split_whitespace().collect::<Vec<_>>()),
                refresh_token: sealed(
                    read_bytes(f, "refresh_token")?,
                    read_string(f, "refresh_token_key_id")?,
                ),
                access_token: access,
                version: required(read_integer(f, "version"), "version")?,
                // A lease only counts with its holder.
                lease_until: lease_id.as_ref().and(read_seconds(f, "lease_until")?),
                created_at: required(read_seconds(f, "created_at"), "created_at")?,
                updated_at: required(read_seconds(f, "updated_at"), "updated_at")?,
                revoked_at: read_seconds(f, "revoked_at")?,
            },
            lease_id,
        })
    }

    pub(super) fn fields(&self) -> Fields {
        let g = &self.record;
        let mut f = Fields::new();
        f.insert("subject".into(), string(&g.subject));
        f.insert("email".into(), string(&g.email));
        f.insert("email_lower".into(), string(&g.email.to_lowercase()));
        f.insert(
            "hosted_domain".into(),
            optional(g.hosted_domain.as_deref(), string),
        );
        f.insert("scopes".into(), string(&canonicalised(&g.scopes).join(" ")));
        let refresh = g.refresh_token.as_ref();
        f.insert(
            "refresh_token".into(),
            optional(refresh.map(|s| &s.bytes[..]), bytes),
        );
        f.insert(
            "refresh_token_key_id".into(),
            optional(refresh.map(|s| s.key_id.as_str()), string),
        );
        let access = g.access_token.as_ref();
        f.insert(
            "access_token".into(),
            optional(access.map(|(s, _)| &s.bytes[..]), bytes),
        );
        f.insert(
            "access_token_key_id".into(),
            optional(access.map(|(s, _)| s.key_id.as_str()), string),
        );
        f.insert(
            "access_token_expires_at".into(),
            optional(access.map(|(_, exp)| exp), |e| seconds(*e)),
        );
        f.insert("version".into(), integer(g.version));
        f.insert(
            "lease_id".into(),
            optional(self.lease_id.as_deref(), string),
        );
        f.insert(
            "lease_until".into(),
            optional(g.lease_until.as_ref(), |u| seconds(*u)),
        );
        f.insert("created_at".into(), seconds(g.created_at));
        f.insert("updated_at".into(), seconds(g.updated_at));
        f.insert(
            "revoked_at".into(),
            optional(g.revoked_at.as_ref(), |r| seconds(*r)),
        );
        f
    }

    /// Frees the lease.
    pub(super) fn release(&mut self) {
        self.lease_id = None;
        self.record.lease_until = None;
    }
}

fn sealed(bytes: Option<Vec<u8>>, key_id: Option<String>) -> Option<Sealed> {
    Some(Sealed {
        bytes: bytes?,
        key_id: key_id?,
    })
}

/// A session as stored: the record and the apps it was handed to.
pub(super) struct StoredSession {
    pub record: SessionRecord,
    /// `(app, last time)`.
    pub apps: Vec<(String, u64)>,
}

impl StoredSession {
    pub(super) fn read(doc: &Doc) -> Result<Self, crate::store::StoreError> {
        let f = &doc.fields;
        let apps = read_array(f, "apps")?
            .iter()
            .map(app_from)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| crate::store::StoreError::Corrupt("field apps".into()))?;
        Ok(Self {
            record: SessionRecord {
                id: required(read_string(f, "id"), "id")?,
                secret_hash: required(read_bytes(f, "secret_hash"), "secret_hash")?,
                subject: required(read_string(f, "subject"), "subject")?,
                email: required(read_string(f, "email"), "email")?,
                name: read_string(f, "name")?,
                hosted_domain: read_string(f, "hosted_domain")?,
                created_at: required(read_seconds(f, "created_at"), "created_at")?,
                last_seen_at: required(read_seconds(f, "last_seen_at"), "last_seen_at")?,
                expires_at: required(read_seconds(f, "expires_at"), "expires_at")?,
                revoked_at: read_seconds(f, "revoked_at")?,
                provider_sid: read_string(f, "provider_sid")?,
                device: read_string(f, "device")?,
                place: read_string(f, "place")?,
                revoked_reason: read_string(f, "revoked_reason")?,
            },
            apps,
        })
    }

    pub(super) fn fields(&self) -> Fields {
        let s = &self.record;
        let mut f = Fields::new();
        f.insert("id".into(), string(&s.id));
        f.insert("secret_hash".into(), bytes(&s.secret_hash));
        f.insert("subject".into(), string(&s.subject));
        f.insert("email".into(), string(&s.email));
        f.insert("email_lower".into(), string(&s.email.to_lowercase()));
        for (name, value) in [
            ("name", &s.name),
            ("hosted_domain", &s.hosted_domain),
            ("provider_sid", &s.provider_sid),
            ("device", &s.device),
            ("place", &s.place),
            ("revoked_reason", &s.revoked_reason),
        ] {
            f.insert(name.into(), optional(value.as_deref(), string));
        }
        f.insert("created_at".into(), seconds(s.created_at));
        f.insert("last_seen_at".into(), seconds(s.last_seen_at));
        f.insert("expires_at".into(), seconds(s.expires_at));
        f.insert("delete_after".into(), timestamp(s.expires_at));
        // Absent, not null, until revoked: the feed's range query then
        // never meets a live session.
        if let Some(at) = s.revoked_at {
            f.insert("revoked_at".into(), seconds(at));
        }
        let apps = self.apps.iter().map(|(app, at)| app_to(app, *at)).collect();
        f.insert("apps".into(), array(apps));
        f
    }

    /// Live: not revoked.
    pub(super) fn is_live(&self) -> bool {
        self.record.revoked_at.is_none()
    }
}

fn app_to(app: &str, at: u64) -> Value {
    let mut f = Fields::new();
    f.insert("app".into(), string(app));
    f.insert("last_at".into(), seconds(at));
    map(f)
}

fn app_from(value: &Value) -> Option<(String, u64)> {
    let f = as_map(value)?;
    let app = as_string(f.get("app")?)?;
    let at = u64::try_from(as_integer(f.get("last_at")?)?).ok()?;
    Some((app, at))
}
