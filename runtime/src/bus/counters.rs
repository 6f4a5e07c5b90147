//! The counters a bus keeps on the hot path: bus-wide, per record name, per handler.

use super::counter::Counter;
use super::histogram::LatencyHistogram;
use super::metrics::NameMetrics;

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

impl NameStats {
    /// This name's entry in [`Metrics::names`].
    pub(crate) fn snapshot(&self) -> NameMetrics {
        NameMetrics {
            emitted: self.emitted.get(),
            failed: self.failed.get(),
            latency: self.latency.snapshot(),
        }
    }
}

/// Per subscription latency (its counts are `Subscription::delivered` and
/// `Subscription::failed`; its queue depth is read from its queue).
#[derive(Default)]
pub(crate) struct HandlerStats {
    /// Run time of this handler's invocations (sampled, see [`Stopwatch::sampled`]).
    pub(crate) latency: LatencyHistogram,
}
