//! Ports for servers the tests start, taken from below the kernel's
//! ephemeral range.
//!
//! A port found free by binding port 0 and handed to a child process (a
//! rehearsed Cloud Run instance, nginx, the certified provider, a service
//! restarted on its old port) is free only until someone else takes it,
//! and the ephemeral range is where the kernel picks the source port of
//! every outgoing connection: with a few hundred connections a second in a
//! test run, one of them took such a port before the child could bind it
//! ("Address already in use"; a failed CI run of the Cloud Run rehearsal).
//! Below that range nothing is handed out implicitly, so a port taken here
//! can only collide with another explicit bind; a process-wide counter
//! keeps this process's choices apart, a random start keeps concurrent test
//! processes apart, and each choice is checked with a bind first.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The lowest port considered: below it are well-known and registered
/// services a developer's machine may run.
const FLOOR: u32 = 10_000;

/// The first port of the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`; Linux's default when it
/// cannot be read).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

static NEXT: OnceLock<AtomicU32> = OnceLock::new();

/// A loopback listener on a port below the ephemeral range, free on every
/// address (so a child told to listen on `0.0.0.0` finds it free too);
/// keep it until the server takes over, or drop it just before a child
/// binds the same port. Falls back to port 0 when the ephemeral range
/// leaves no room below it.
pub fn listener() -> TcpListener {
    let span = ephemeral_start().saturating_sub(FLOOR);
    if span < 1_000 {
        return TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port");
    }
    let next = NEXT.get_or_init(|| AtomicU32::new(rand::random::<u32>() % span));
    take(next, span)
}

/// The first port from `next` on (modulo `span`, above [`FLOOR`]) that is
/// free on every address.
fn take(next: &AtomicU32, span: u32) -> TcpListener {
    for _ in 0..span {
        let port = (FLOOR + next.fetch_add(1, Ordering::Relaxed) % span) as u16;
        // Free on the wildcard address means free on every address.
        if TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_err() {
            continue;
        }
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            return listener;
        }
    }
    panic!("no free port between {FLOOR} and the ephemeral range");
}

/// A port for a child process to listen on (see [`listener`]).
pub fn for_a_child() -> u16 {
    listener().local_addr().expect("a bound listener").port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_below_the_ephemeral_range_and_not_repeated() {
        let ports: Vec<u16> = (0..50).map(|_| for_a_child()).collect();
        let start = ephemeral_start();
        if start >= FLOOR + 1_000 {
            assert!(ports
                .iter()
                .all(|&p| u32::from(p) >= FLOOR && u32::from(p) < start));
        }
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "{ports:?}");
    }

    #[test]
    fn a_port_in_use_on_any_address_is_passed_over() {
        let span = ephemeral_start().saturating_sub(FLOOR);
        if span < 1_000 {
            return;
        }
        // Held on another loopback address: a child listening on the
        // wildcard address could not bind it.
        let held = listener();
        let port = held.local_addr().unwrap().port();
        drop(held);
        let _other = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2), port)).unwrap();
        let next = AtomicU32::new(u32::from(port) - FLOOR);
        let taken = take(&next, span).local_addr().unwrap().port();
        assert_ne!(taken, port, "a port a wildcard bind would fail on");
    }
}
