//! Support for herald's tests, benchmarks and examples: what more than one of them needs
//! and that is not herald itself.
//!
//! - [`redis_server::RedisServer`]: a throwaway `redis-server` on a free loopback port,
//!   with or without persistence, TLS and ACL users, that a test can kill and restart.
//! - [`certificates::TestCertificates`]: a certificate authority and a server
//!   certificate for `127.0.0.1`, made with the `openssl` command line, for TLS tests.
//!
//! This library depends on the standard library only, so any package of the workspace
//! (herald itself included) can take it as a dev-dependency without a cycle and without
//! turning on any of herald's features.

pub mod certificates;
pub mod redis_server;
