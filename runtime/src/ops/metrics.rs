//! The coordinator's counters, its fixed-memory latency histogram, and the [`Metrics`]
//! snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A counter on its own cache line, so that threads counting different things do not
/// slow each other down.
#[repr(align(64))]
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn incr(&self) {
        self.add(1);
    }

    #[inline]
    pub(crate) fn add(&self, n: u64) {
        if n > 0 {
            self.0.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Everything the coordinator counts.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) submitted: Counter,
    pub(crate) completed: Counter,
    pub(crate) rejected: Counter,
    pub(crate) failed: Counter,
    pub(crate) retried: Counter,
    pub(crate) cancelled: Counter,
    pub(crate) recovered: Counter,
    pub(crate) conflicts: Counter,
    pub(crate) grace_saves: Counter,
    pub(crate) executing_protections: Counter,
    pub(crate) resolution: Histogram,
}

/// The resolution-latency histogram: the bus's fixed-memory, lock-free one.
pub(crate) type Histogram = crate::core::histogram::LatencyHistogram;

/// The [`Latency`] of a histogram.
pub(crate) fn summary(h: &Histogram) -> Latency {
    let s = h.snapshot();
    Latency {
        count: s.count,
        p50: Duration::from_nanos(s.p50_ns),
        p99: Duration::from_nanos(s.p99_ns),
        max: Duration::from_nanos(s.max_ns),
    }
}

/// Resolution latency: how long a resolution round takes, from the moment it can run
/// (an operation submitted to a free target, or an execution finishing) until every
/// contender's status is decided. A quantile is the upper bound of its histogram bucket:
/// never below the true value, less than 6.25 % above it, and never above `max`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Latency {
    /// Rounds recorded.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest round.
    pub max: Duration,
}

/// A snapshot of a coordinator's counters, from
/// [`Coordinator::metrics`](super::Coordinator::metrics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Operations accepted by `submit`.
    pub submitted: u64,
    /// Operations that succeeded.
    pub completed: u64,
    /// Operations rejected: preempted, or out of retries.
    pub rejected: u64,
    /// Attempts that failed (an operation retried twice and then rejected counts 3).
    pub failed: u64,
    /// Retries scheduled after failed attempts.
    pub retried: u64,
    /// Operations cancelled.
    pub cancelled: u64,
    /// Stuck executions returned to pending by `recover`.
    pub recovered: u64,
    /// Resolution rounds with more than one contender.
    pub conflicts: u64,
    /// Times a losing operation was spared because it was in its grace period.
    pub grace_period_saves: u64,
    /// Times an operation arrived at a target executing a lower-priority operation,
    /// which kept running.
    pub executing_protections: u64,
    /// Resolution latency.
    pub resolution: Latency,
    /// Operations executing now.
    pub executing: u64,
    /// Operations pending on their targets now (not counting those waiting for a retry).
    pub pending: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_come_from_the_bus_histogram() {
        let h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 100);
        }
        let s = summary(&h);
        assert_eq!(s.count, 10_000);
        let within = |d: Duration, want: u64| {
            let got = d.as_nanos() as f64;
            got >= want as f64 && got <= want as f64 * 1.0625
        };
        assert!(within(s.p50, 500_000), "{:?}", s.p50);
        assert!(within(s.p99, 990_000), "{:?}", s.p99);
        assert_eq!(s.max, Duration::from_nanos(1_000_000));
        assert_eq!(summary(&Histogram::default()).p99, Duration::ZERO);
    }
}
