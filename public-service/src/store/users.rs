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

impl KnownUser {
    /// The users `pairs` of (subject, e-mail), sorted and without repeats,
    /// name for an operator's `user`: one per subject with its e-mails, or
    /// the exact subject match alone (it names one user whatever the
    /// e-mails).
    pub(crate) fn grouped(
        pairs: impl IntoIterator<Item = (String, String)>,
        user: &str,
    ) -> Vec<Self> {
        let mut users: Vec<Self> = Vec::new();
        for (subject, email) in pairs {
            match users.last_mut() {
                Some(last) if last.subject == subject => last.emails.push(email),
                _ => users.push(Self {
                    subject,
                    emails: vec![email],
                }),
            }
        }
        match users.iter().position(|u| u.subject == user) {
            Some(exact) => vec![users.swap_remove(exact)],
            None => users,
        }
    }
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
        let pairs = rows
            .iter()
            .map(|row| Ok((row.try_get("subject")?, row.try_get("email")?)))
            .collect::<Result<Vec<(String, String)>, sqlx::Error>>()?;
        Ok(KnownUser::grouped(pairs, user))
    }
}
