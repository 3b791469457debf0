//! `DATABASE_URL=firestore://PROJECT[/DATABASE]`: which database, checked
//! exactly, and where its API answers.

/// The database a URL without one names.
pub const DEFAULT_DATABASE: &str = "(default)";

/// Google's Firestore REST endpoint
/// (<https://cloud.google.com/firestore/docs/reference/rest>).
const PRODUCTION_API: &str = "https://firestore.googleapis.com/v1";

const SCHEME: &str = "firestore://";

/// What every refusal of the URL is followed by.
pub const EXAMPLE: &str = "for example firestore://my-project (its (default) database) or firestore://my-project/sessions-db";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub project: String,
    pub database: String,
}

impl Target {
    /// `projects/P/databases/D`, as the API names the database.
    pub fn database_path(&self) -> String {
        format!("projects/{}/databases/{}", self.project, self.database)
    }
}

pub fn is_firestore_url(url: &str) -> bool {
    url.starts_with(SCHEME)
}

/// The project and database a `firestore://` URL names, or why it names
/// none. Only `firestore://PROJECT` and `firestore://PROJECT/DATABASE`
/// are accepted: no user, port, query, fragment or further path.
pub fn parse(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix(SCHEME)
        .ok_or_else(|| "it does not start with firestore://".to_owned())?;
    let mut parts = rest.split('/');
    let project = parts.next().unwrap_or_default();
    let database = parts.next();
    if parts.next().is_some() {
        return Err("it has a path beyond the database id".into());
    }
    check_project_id(project)?;
    let database = match database {
        None => DEFAULT_DATABASE.to_owned(),
        Some(id) => {
            check_database_id(id)?;
            id.to_owned()
        }
    };
    Ok(Target {
        project: project.to_owned(),
        database,
    })
}

/// A project id is 6 to 30 lowercase ASCII letters, digits or hyphens,
/// starting with a letter and not ending with a hyphen
/// (<https://cloud.google.com/resource-manager/docs/creating-managing-projects#before_you_begin>).
/// Anything else in that place (a user, a port, a query) fails here.
fn check_project_id(id: &str) -> Result<(), String> {
    let shape_ok = (6..=30).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if shape_ok {
        Ok(())
    } else {
        Err("the project id must be 6 to 30 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen".into())
    }
}

/// A database id is `(default)`, or 4 to 63 lowercase ASCII letters,
/// digits or hyphens, starting with a letter, ending with a letter or
/// digit, and not shaped like a UUID
/// (<https://cloud.google.com/firestore/docs/manage-databases#database_id>).
fn check_database_id(id: &str) -> Result<(), String> {
    if id == DEFAULT_DATABASE {
        return Ok(());
    }
    let shape_ok = (4..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !shape_ok {
        return Err("the database id must be (default) or 4 to 63 lowercase letters, digits or hyphens, starting with a letter and ending with a letter or digit".into());
    }
    if looks_like_uuid(id) {
        return Err("the database id must not be shaped like a UUID".into());
    }
    Ok(())
}

fn looks_like_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Where the documents of `target` are: Google's API, or the emulator
/// at `emulator_host` (`host:port`, plain HTTP, as the emulator serves).
pub fn documents_url(target: &Target, emulator_host: Option<&str>) -> String {
    let api = match emulator_host {
        Some(host) => format!("http://{host}/v1"),
        None => PRODUCTION_API.to_owned(),
    };
    format!("{api}/{}/documents", target.database_path())
}

/// `FIRESTORE_EMULATOR_HOST` must be `host:port` and nothing else.
pub fn check_emulator_host(host: &str) -> Result<(), String> {
    let parsed = url::Url::parse(&format!("http://{host}/"))
        .map_err(|_| "it is not host:port".to_owned())?;
    let plain = parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.port().is_some()
        && parsed.path() == "/"
        && !host.contains(['/', '?', '#', '@']);
    if plain {
        Ok(())
    } else {
        Err("it must be host:port, e.g. 127.0.0.1:8686".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_and_an_optional_database_are_read() {
        assert_eq!(
            parse("firestore://my-project").unwrap(),
            Target {
                project: "my-project".into(),
                database: "(default)".into()
            }
        );
        assert_eq!(
            parse("firestore://my-project/sessions-db")
                .unwrap()
                .database,
            "sessions-db"
        );
        assert_eq!(
            parse("firestore://my-project/(default)").unwrap().database,
            "(default)"
        );
    }

    #[test]
    fn anything_more_or_malformed_is_refused() {
        for url in [
            "firestore://",
            "firestore://short",
            "firestore://My-Project",
            "firestore://1project",
            "firestore://project-",
            "firestore://my-project/",
            "firestore://my-project/db/extra",
            "firestore://my-project:443",
            "firestore://user@my-project",
            "firestore://my-project?x=1",
            "firestore://my-project#frag",
            "firestore://my-project/db?x=1",
            "firestore://my-project/Db1",
            "firestore://my-project/abc",
            "firestore://my-project/db-",
            "firestore://my-project/1db",
            "firestore://my-project/0123abcd-0123-4567-89ab-0123456789ab",
            "firestore://a-project-id-that-is-far-too-long",
            "postgres://my-project",
        ] {
            assert!(parse(url).is_err(), "{url} must be refused");
        }
        assert!(parse("firestore://d0123abcd-0123-4567-89ab-0123456789ab").is_err());
    }

    #[test]
    fn the_emulator_is_reached_over_plain_http() {
        let target = parse("firestore://my-project").unwrap();
        assert_eq!(
            documents_url(&target, None),
            "https://firestore.googleapis.com/v1/projects/my-project/databases/(default)/documents"
        );
        assert_eq!(
            documents_url(&target, Some("127.0.0.1:8686")),
            "http://127.0.0.1:8686/v1/projects/my-project/databases/(default)/documents"
        );
        check_emulator_host("127.0.0.1:8686").unwrap();
        check_emulator_host("localhost:8080").unwrap();
        for bad in ["127.0.0.1", "http://127.0.0.1:8686", "h:1/x", "u@h:1", ""] {
            assert!(check_emulator_host(bad).is_err(), "{bad}");
        }
    }
}
