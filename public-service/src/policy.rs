//! The access policy lives in `shared` (apps apply it to Bearer tokens of
//! people too); re-exported here where the sign-in flow uses it.

pub use handoff_guard::{AccessPolicy, Denial, Identity};
