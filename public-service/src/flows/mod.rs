//! The service's flows, each one plain function over the few components
//! it needs (the provider, grants, sessions, codes, the signer, the
//! clock), so it reads top to bottom in one place and can be tested
//! without HTTP. Handlers parse the request, call one flow and render its
//! outcome; each flow's error enum keeps its source, and one
//! `ResponseError` per enum (beside the handler) decides the answer.
//!
//! docs/flows.md walks through each flow as a person and an app see it.

pub mod back_channel_logout;
#[cfg(test)]
mod fixture;
pub mod hand_off;
pub mod renew;
pub mod sign_in;
#[cfg(test)]
mod sign_in_tests;
pub mod sign_out;
