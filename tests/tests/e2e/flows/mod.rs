//! End-to-end flows: the mock provider and both services on random
//! loopback ports, driven hop by hop by a test browser.

mod access_policy;
mod callback;
mod handoff_tokens;
mod providers;
mod return_to;
mod sign_in;
