//! Counters on the hot path and the [`Metrics`] snapshot.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

const SHARDS: usize = 8;

#[repr(align(64))]
#[derive(Default)]
struct Padded(AtomicU64);

/// A counter that threads increment without sharing a cache line: each thread adds to
/// its own shard, and reading sums them.
#[derive(Default)]
pub(crate) struct Counter {
    shards: [Padded; SHARDS],
}

fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
        s.set(v);
        v
    })
}

impl Counter {
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.shards[shard()].0.fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn incr(&self) {
        self.add(1);
    }

    pub(crate) fn get(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}

/// Bus-wide counters.
#[derive(Default)]
pub(crate) struct BusCounters {
    pub(crate) delivered: Counter,
    pub(crate) failed: Counter,
    pub(crate) dead_lettered: Counter,
    pub(crate) expired: Counter,
    pub(crate) dropped: Counter,
}

/// Per record name counters.
#[derive(Default)]
pub(crate) struct NameStats {
    pub(crate) emitted: Counter,
}

/// A snapshot of a bus's counters, from [`Bus::metrics`](crate::Bus::metrics).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Metrics {
    /// Emissions accepted (the sum of the per-name counts).
    pub emitted: u64,
    /// Handler invocations that succeeded.
    pub delivered: u64,
    /// Handler invocations that failed (returned `Err` or panicked).
    pub failed: u64,
    /// Failed deliveries recorded as dead letters.
    pub dead_lettered: u64,
    /// Deliveries skipped because the event had expired.
    pub expired: u64,
    /// Records refused by a bound (dead letters evicted, names past the name limit).
    pub dropped: u64,
    /// Emissions per record name.
    pub names: BTreeMap<String, NameMetrics>,
    /// Counts per subscription name.
    pub handlers: BTreeMap<String, HandlerMetrics>,
}

/// Counts for one record name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NameMetrics {
    /// Emissions of this name.
    pub emitted: u64,
}

/// Counts for one subscription.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HandlerMetrics {
    /// Invocations that succeeded.
    pub delivered: u64,
    /// Invocations that failed.
    pub failed: u64,
}

impl Metrics {
    /// The snapshot as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_sums_threads() {
        let c = std::sync::Arc::new(Counter::default());
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| c.incr()))
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().expect("thread"));
        assert_eq!(c.get(), 4000);
    }
}
