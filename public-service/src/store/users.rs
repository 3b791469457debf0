//! Finding a user by what an operator knows: an e-mail address or the
//! provider's subject (`admin … --user`).

use sqlx::Row;

use super::{Store, StoreError};

/// A subject the store knows, with every address it was seen with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownUser {
    pub subject: String,
    pub emails: Vec<String>,
}

impl Store {
    /// The subjects whose grant or sessions carry `user` as their subject
    /// or (case-insensitively) as their e-mail, in subject order. An exact
    /// subject match comes alone: it names one user whatever the e-mails.
    pub async fn users_matching(&self, user: &str) -> Result<Vec<KnownUser>, StoreError> {
        let rows = self
            .bounded(
                sqlx::query(
                    "SELECT subject, email FROM grants WHERE subject = $1 OR lower(email) = lower($1) \
                     UNION \
                     SELECT subject, email FROM sessions WHERE subject = $1 OR lower(email) = lower($1) \
                     ORDER BY subject, email",
                )
                .bind(user)
                .fetch_all(self.pool()?),
            )
            .await?;
        let mut users: Vec<KnownUser> = Vec::new();
        for row in rows {
            let subject: String = row.try_get("subject")?;
            let email: String = row.try_get("email")?;
            match users.last_mut() {
                Some(last) if last.subject == subject => last.emails.push(email),
                _ => users.push(KnownUser {
                    subject,
                    emails: vec![email],
                }),
            }
        }
        if let Some(exact) = users.iter().find(|u| u.subject == user) {
            return Ok(vec![exact.clone()]);
        }
        Ok(users)
    }
}
