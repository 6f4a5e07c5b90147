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

/// Sub-buckets per power of two: values are kept within 1/16 (6.25 %) of their size.
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Values below `SUB` have a bucket each; each power of two from `SUB` up has `SUB`.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A log-linear histogram of nanosecond values in fixed memory (about 8 KiB), recorded
/// without locks.
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS
    let sub = (v >> (exp - SUB_BITS)) as usize & (SUB - 1);
    (exp - SUB_BITS + 1) as usize * SUB + sub
}

/// The smallest value and the width of bucket `i`.
fn bucket_range(i: usize) -> (u64, u64) {
    if i < SUB {
        return (i as u64, 1);
    }
    let exp = (i / SUB) as u32 + SUB_BITS - 1;
    let sub = (i % SUB) as u64;
    let width = 1u64 << (exp - SUB_BITS);
    (((SUB as u64) + sub) * width, width)
}

impl Histogram {
    pub(crate) fn record(&self, d: Duration) {
        let v = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(v)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
    }

    pub(crate) fn summary(&self) -> Latency {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let max = self.max.load(Ordering::Relaxed);
        let quantile = |q: f64| -> Duration {
            if total == 0 {
                return Duration::ZERO;
            }
            // The rank of the q-quantile, from 1.
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (i, &c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    let (low, width) = bucket_range(i);
                    return Duration::from_nanos((low + (width - 1) / 2).min(max));
                }
            }
            Duration::from_nanos(max)
        };
        Latency {
            count: total,
            p50: quantile(0.50),
            p99: quantile(0.99),
            max: Duration::from_nanos(max),
        }
    }
}

/// Resolution latency: how long a resolution round takes, from the moment it can run
/// (an operation submitted to a free target, or an execution finishing) until every
/// contender's status is decided. Quantiles are accurate to about 3 %.
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
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for v in (0..5_000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let i = bucket_of(v);
            assert!(i < BUCKETS);
            assert!(i >= last, "bucket of {v} went backwards");
            last = i;
            let (low, width) = bucket_range(i);
            assert!(
                low <= v && v - low < width,
                "{v} outside bucket {i} = {low} + {width}"
            );
        }
    }

    #[test]
    fn quantiles_are_close() {
        let h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(Duration::from_nanos(v * 100));
        }
        let s = h.summary();
        assert_eq!(s.count, 10_000);
        let near = |d: Duration, want: u64| {
            let got = d.as_nanos() as f64;
            (got - want as f64).abs() / want as f64 <= 0.04
        };
        assert!(near(s.p50, 500_000), "{:?}", s.p50);
        assert!(near(s.p99, 990_000), "{:?}", s.p99);
        assert_eq!(s.max, Duration::from_nanos(1_000_000));
        assert_eq!(Histogram::default().summary().p99, Duration::ZERO);
    }
}
