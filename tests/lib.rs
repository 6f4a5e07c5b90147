//! Support for herald's tests, benchmarks and examples: what more than one of them needs
//! and that is not herald itself.
//!
//! - [`redis_server::RedisServer`]: a throwaway `redis-server` on a free loopback port,
//!   with or without persistence, TLS and ACL users, that a test can kill and restart.
//! - [`certificates::TestCertificates`]: a certificate authority and a server
//!   certificate for `127.0.0.1`, made with the `openssl` command line, for TLS tests.
//! - [`mutation`]: edits of text for property tests (damaged and hostile input), and
//!   [`proptest_cases`]: how many cases each property test runs.
//!
//! This library depends on the standard library only, so any package of the workspace
//! (herald itself included) can take it as a dev-dependency without a cycle and without
//! turning on any of herald's features.

pub mod certificates;
pub mod mutation;
pub mod redis_server;

/// The environment variable that sets how many cases each property test runs (a soak:
/// `HERALD_PROPTEST_CASES=100000 cargo test ...`).
pub const PROPTEST_CASES_ENV: &str = "HERALD_PROPTEST_CASES";

/// Cases per property test when [`PROPTEST_CASES_ENV`] is not set: enough to find the
/// failures seen so far, few enough that every property test together runs in seconds.
pub const DEFAULT_PROPTEST_CASES: u32 = 256;

/// How many cases each property test runs: [`PROPTEST_CASES_ENV`] when it holds a
/// number, else [`DEFAULT_PROPTEST_CASES`].
pub fn proptest_cases() -> u32 {
    std::env::var(PROPTEST_CASES_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_PROPTEST_CASES)
}
