//! The counters a bus keeps on the hot path: bus-wide, per record name, per handler.

use super::counter::Counter;
use super::histogram::LatencyHistogram;

/// Bus-wide counters.
#[derive(Default)]
pub(crate) struct BusCounters {
    pub(crate) delivered: Counter,
    pub(crate) failed: Counter,
    pub(crate) dead_lettered: Counter,
    pub(crate) expired: Counter,
    pub(crate) dropped: Counter,
}

/// Per record name counters and latency (shared by the routes of one name).
#[derive(Default)]
pub(crate) struct NameStats {
    pub(crate) emitted: Counter,
    /// Handler invocations on records of this name that failed.
    pub(crate) failed: Counter,
    /// Run time of handler invocations on records of this name.
    pub(crate) latency: LatencyHistogram,
}

/// Per subscription latency (its counts are `Subscription::delivered` and
/// `Subscription::failed`; its queue depth is read from its queue).
#[derive(Default)]
pub(crate) struct HandlerStats {
    /// Run time of this handler's invocations (sampled, see [`Stopwatch::sampled`]).
    pub(crate) latency: LatencyHistogram,
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

    #[test]
    fn stats_snapshots() {
        let name = NameStats::default();
        name.emitted.add(3);
        name.failed.incr();
        name.latency.record(2_000);
        let latency = name.latency.snapshot();
        assert_eq!(
            (name.emitted.get(), name.failed.get(), latency.count),
            (3, 1, 1)
        );
        assert_eq!(latency.max_ns, 2_000);
        let handler = HandlerStats::default();
        handler.latency.record(10);
        assert_eq!(handler.latency.snapshot().p50_ns, 10);
    }
}
