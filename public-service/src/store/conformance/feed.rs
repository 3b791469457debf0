//! [`RevocationFeedStore`]: pages on a `(revoked_at, id)` cursor.

use std::collections::BTreeSet;

use super::{new_session, NOW};
use crate::store::{SessionStore, Storage};

/// Sessions revoked within one second: more than many pages.
const SAME_SECOND: usize = 2_000;
const PAGE: u32 = 97;

pub async fn revocation_feed(store: &dyn Storage) {
    assert!(store
        .sessions_revoked_since(0, None, PAGE)
        .await
        .unwrap()
        .is_empty());
    let second = NOW + 100;
    // One revoked just before the second, one just after.
    create(store, "before", NOW).await;
    store.revoke_session("before", second - 1).await.unwrap();
    for n in 0..SAME_SECOND {
        create(store, &format!("s{n:05}"), NOW).await;
    }
    let revoked = store
        .revoke_sessions_of("many", None, second)
        .await
        .unwrap();
    assert_eq!(revoked, SAME_SECOND as u64);
    create(store, "after", NOW).await;
    store.revoke_session("after", second + 1).await.unwrap();

    let mut seen: Vec<(String, u64)> = Vec::new();
    let (mut since, mut after) = (second, None::<String>);
    loop {
        let page = store
            .sessions_revoked_since(since, after.as_deref(), PAGE)
            .await
            .unwrap();
        assert!(
            page.len() <= PAGE as usize,
            "a page holds at most the limit"
        );
        let Some((last_id, last_at)) = page.last().cloned() else {
            break;
        };
        seen.extend(page);
        (since, after) = (last_at, Some(last_id));
    }
    assert_eq!(seen.len(), SAME_SECOND + 1, "every one, and the later one");
    assert!(
        seen.windows(2)
            .all(|w| (w[0].1, &w[0].0) < (w[1].1, &w[1].0)),
        "in order"
    );
    let unique: BTreeSet<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(unique.len(), seen.len(), "no entry twice");
    assert!(!unique.contains("before"), "nothing revoked before `since`");
    assert_eq!(seen.last().unwrap(), &("after".to_owned(), second + 1));
    assert!(seen[..SAME_SECOND].iter().all(|(_, at)| *at == second));

    // Without a cursor, `since` itself is included.
    let first = store
        .sessions_revoked_since(second - 1, None, 1)
        .await
        .unwrap();
    assert_eq!(first, [("before".to_owned(), second - 1)]);
}

async fn create(store: &dyn SessionStore, id: &str, at: u64) {
    let subject = if id.starts_with('s') { "many" } else { id };
    store
        .create_session(&new_session(id, subject, at))
        .await
        .unwrap();
}
