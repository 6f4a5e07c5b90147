//! How a [`Coordinator`](super::Coordinator) resolves, retries and judges its health.

use std::time::Duration;

/// Settings of a [`Coordinator`](super::Coordinator); start from `Config::default()`.
///
/// ```
/// use std::time::Duration;
/// use herald::ops::Config;
///
/// let config = Config {
///     grace_period: Duration::from_millis(10),
///     backoff_base: Duration::from_millis(50),
///     ..Config::default()
/// };
/// // Un-jittered waits before the first, second and third retry.
/// assert_eq!(config.backoff(0), Duration::from_millis(50));
/// assert_eq!(config.backoff(1), Duration::from_millis(100));
/// assert_eq!(config.backoff(2), Duration::from_millis(200));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// How long an operation that has just become pending (submitted, retried or
    /// recovered) is protected: a resolution round does not reject it, it stays pending
    /// for the next round. Default 50 ms.
    pub grace_period: Duration,
    /// Retries of an operation whose [`max_retries`](super::Operation::max_retries) is
    /// `None`. Default 3.
    pub default_max_retries: u32,
    /// The wait before the first retry; the n-th retry (from 0) waits
    /// `min(base * 2^n, cap)`, times a jitter in [0.8, 1.2]. Default 100 ms.
    pub backoff_base: Duration,
    /// The longest un-jittered wait between retries. Default 30 s.
    pub backoff_cap: Duration,
    /// At most this many operations execute at once, over all targets (at least one
    /// does). A target whose winner would exceed it waits, first come first served, for
    /// an execution to finish. Default 1,024.
    pub max_concurrent_executions: usize,
    /// An execution running longer than this is *stuck*: [`health`](super::Coordinator::health)
    /// reports it and [`recover`](super::Coordinator::recover) returns it to pending.
    /// Default 60 s.
    pub stuck_after: Duration,
    /// More pending operations than this (over all targets) make
    /// [`health`](super::Coordinator::health) degraded. Default 10,000.
    pub max_queue_depth: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            grace_period: Duration::from_millis(50),
            default_max_retries: 3,
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(30),
            max_concurrent_executions: 1_024,
            stuck_after: Duration::from_secs(60),
            max_queue_depth: 10_000,
        }
    }
}

impl Config {
    /// The wait before retry number `retry` (0 for the first), without jitter:
    /// `min(backoff_base * 2^retry, backoff_cap)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        self.backoff_base
            .checked_mul(factor)
            .map_or(self.backoff_cap, |d| d.min(self.backoff_cap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let c = Config {
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(5),
            ..Config::default()
        };
        let waits: Vec<u64> = (0..5).map(|n| c.backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        assert_eq!(c.backoff(40), Duration::from_secs(5));
        assert_eq!(c.backoff(u32::MAX), Duration::from_secs(5));
    }
}
