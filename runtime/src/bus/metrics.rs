//! Counters on the hot path, latency histograms, queue-depth gauges, and the [`Metrics`]
//! snapshot with its JSON and Prometheus renderings.
//!
//! # Recording
//!
//! Around each handler invocation the dispatcher takes a [`Stopwatch::sampled`]: every
//! invocation of a handler's first 1,024 is timed, then one in 64 per thread on average
//! (reading the clock twice would alone cost more than the 10 ns per-delivery budget).
//! A sample goes to the handler's histogram and to its record name's. A latency is the
//! handler's own run time (for async handlers: start to completion, awaits included),
//! not time spent waiting in a queue. Failures count per handler and per name.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use crate::core::counter::Counter;
use crate::core::counters::NameStats;
pub use crate::core::histogram::LatencySnapshot;
use crate::core::histogram::{LatencyHistogram, Stopwatch};
use crate::core::subscription::Subscription;

/// A record name's entry in [`Metrics::names`].
pub(crate) fn name_metrics(stats: &NameStats) -> NameMetrics {
    NameMetrics {
        emitted: stats.emitted.get(),
        failed: stats.failed.get(),
        latency: stats.latency.snapshot(),
    }
}

/// A subscription's entry in [`Metrics::handlers`].
pub(crate) fn handler_metrics(sub: &Subscription) -> HandlerMetrics {
    HandlerMetrics {
        delivered: sub.delivered.get(),
        failed: sub.failed.get(),
        latency: sub.stats.latency.snapshot(),
        queue_depth: sub.queue.as_ref().map_or(0, |q| q.depth() as u64),
    }
}

/// A snapshot of a bus's counters, from [`Bus::metrics`](crate::Bus::metrics).
///
/// ```
/// let bus = herald::Bus::builder().registered_handlers(false).build().unwrap();
/// let m = bus.metrics();
/// assert_eq!(m.emitted, 0);
/// assert!(m.to_json().starts_with('{'));
/// assert!(m.to_prometheus().contains("herald_emitted_total 0\n"));
/// ```
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
    /// Per record name: emissions, failures, handler latency. Names past the bus's
    /// name limit are summed under `"<other>"`.
    pub names: BTreeMap<String, NameMetrics>,
    /// Per subscription name: invocations, failures, latency, queue depth.
    pub handlers: BTreeMap<String, HandlerMetrics>,
}

/// Counts and handler latency for one record name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NameMetrics {
    /// Emissions of this name.
    pub emitted: u64,
    /// Handler invocations on records of this name that failed.
    pub failed: u64,
    /// Run time of handler invocations on records of this name.
    pub latency: LatencySnapshot,
}

/// Counts, latency and queue depth for one subscription.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HandlerMetrics {
    /// Invocations that succeeded.
    pub delivered: u64,
    /// Invocations that failed.
    pub failed: u64,
    /// Run time of its invocations.
    pub latency: LatencySnapshot,
    /// Events waiting in its queue (handlers with `concurrency = N`; 0 otherwise).
    pub queue_depth: u64,
}

impl Metrics {
    /// The snapshot as JSON: the fields above, latency as an object with `count`,
    /// `p50_ns`, `p99_ns`, `max_ns`, `mean_ns` and `sum_ns`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The snapshot in the Prometheus text exposition format (version 0.0.4), ready to
    /// serve on a `/metrics` endpoint.
    ///
    /// Bus-wide counters are `herald_emitted_total`, `herald_delivered_total`,
    /// `herald_failed_total`, `herald_dead_lettered_total`, `herald_expired_total` and
    /// `herald_dropped_total`. Per record name (label `name`):
    /// `herald_name_emitted_total`, `herald_name_failed_total` and the summary
    /// `herald_name_latency_seconds`. Per subscription (label `handler`):
    /// `herald_handler_delivered_total`, `herald_handler_failed_total`, the gauge
    /// `herald_handler_queue_depth` and the summary `herald_handler_latency_seconds`.
    /// Summaries carry quantiles 0.5, 0.99 and 1 (the maximum), `_sum` and `_count`;
    /// their quantiles are `NaN` when nothing was timed.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(1024);
        let bus = [
            ("emitted", "Emissions accepted.", self.emitted),
            (
                "delivered",
                "Handler invocations that succeeded.",
                self.delivered,
            ),
            ("failed", "Handler invocations that failed.", self.failed),
            (
                "dead_lettered",
                "Failed deliveries recorded as dead letters.",
                self.dead_lettered,
            ),
            (
                "expired",
                "Deliveries skipped because the event had expired.",
                self.expired,
            ),
            ("dropped", "Records refused by a bound.", self.dropped),
        ];
        for (name, help, value) in bus {
            let family = format!("herald_{name}_total");
            header(&mut out, &family, help, "counter");
            let _ = writeln!(out, "{family} {value}");
        }
        let names = || self.names.iter().map(|(n, m)| (n.as_str(), m));
        labelled(
            &mut out,
            "herald_name_emitted_total",
            "Emissions per record name.",
            "counter",
            "name",
            names().map(|(n, m)| (n, m.emitted)),
        );
        labelled(
            &mut out,
            "herald_name_failed_total",
            "Failed handler invocations per record name.",
            "counter",
            "name",
            names().map(|(n, m)| (n, m.failed)),
        );
        summary(
            &mut out,
            "herald_name_latency_seconds",
            "Handler run time per record name.",
            "name",
            names().map(|(n, m)| (n, &m.latency)),
        );
        let handlers = || self.handlers.iter().map(|(n, m)| (n.as_str(), m));
        labelled(
            &mut out,
            "herald_handler_delivered_total",
            "Handler invocations that succeeded.",
            "counter",
            "handler",
            handlers().map(|(n, m)| (n, m.delivered)),
        );
        labelled(
            &mut out,
            "herald_handler_failed_total",
            "Handler invocations that failed.",
            "counter",
            "handler",
            handlers().map(|(n, m)| (n, m.failed)),
        );
        labelled(
            &mut out,
            "herald_handler_queue_depth",
            "Events waiting in the handler's queue.",
            "gauge",
            "handler",
            handlers().map(|(n, m)| (n, m.queue_depth)),
        );
        summary(
            &mut out,
            "herald_handler_latency_seconds",
            "Handler run time.",
            "handler",
            handlers().map(|(n, m)| (n, &m.latency)),
        );
        out
    }

    /// A probe for the benchmarks: the recording primitives, alone. Not public API.
    #[doc(hidden)]
    pub fn __probe() -> MetricsProbe {
        MetricsProbe::default()
    }
}

fn header(out: &mut String, family: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} {kind}");
}

/// One labelled family; nothing when it has no samples.
fn labelled<'a>(
    out: &mut String,
    family: &str,
    help: &str,
    kind: &str,
    label: &str,
    mut samples: impl Iterator<Item = (&'a str, u64)>,
) {
    let Some(first) = samples.next() else {
        return;
    };
    header(out, family, help, kind);
    for (value, n) in std::iter::once(first).chain(samples) {
        let _ = writeln!(out, "{family}{{{label}=\"{}\"}} {n}", Escaped(value));
    }
}

/// One summary family of latencies in seconds; nothing when it has no samples.
fn summary<'a>(
    out: &mut String,
    family: &str,
    help: &str,
    label: &str,
    mut samples: impl Iterator<Item = (&'a str, &'a LatencySnapshot)>,
) {
    let Some(first) = samples.next() else {
        return;
    };
    header(out, family, help, "summary");
    for (value, l) in std::iter::once(first).chain(samples) {
        let value = Escaped(value);
        for (q, ns) in [("0.5", l.p50_ns), ("0.99", l.p99_ns), ("1", l.max_ns)] {
            let _ = write!(out, "{family}{{{label}=\"{value}\",quantile=\"{q}\"}} ");
            let _ = if l.count == 0 {
                writeln!(out, "NaN")
            } else {
                writeln!(out, "{}", Seconds(ns))
            };
        }
        let _ = writeln!(
            out,
            "{family}_sum{{{label}=\"{value}\"}} {}",
            Seconds(l.sum_ns)
        );
        let _ = writeln!(out, "{family}_count{{{label}=\"{value}\"}} {}", l.count);
    }
}

/// A label value escaped for the text format: backslash, double quote, line feed.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Nanoseconds written as an exact decimal number of seconds (`5119` -> `0.000005119`).
struct Seconds(u64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 1_000_000_000, self.0 % 1_000_000_000);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:09}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// The recording primitives, for the benchmarks. Not public API.
#[doc(hidden)]
#[derive(Default)]
pub struct MetricsProbe {
    histogram: LatencyHistogram,
    handler: Counter,
    bus: Counter,
}

impl MetricsProbe {
    /// `LatencyHistogram::record`.
    #[inline]
    pub fn record(&self, nanos: u64) {
        self.histogram.record(nanos);
    }

    /// `Counter::incr`.
    #[inline]
    pub fn incr(&self) {
        self.handler.incr();
    }

    /// Everything metrics add to one successful delivery: the sampled stopwatch around
    /// `f`, recording when it timed, and the handler and bus `delivered` counters.
    #[inline]
    pub fn delivery(&self, f: impl FnOnce()) {
        let watch = Stopwatch::sampled(&self.histogram);
        f();
        if let Some(nanos) = watch.stop() {
            self.histogram.record(nanos);
        }
        self.handler.incr();
        self.bus.incr();
    }

    /// Timing one invocation always: two clock reads and a record.
    #[inline]
    pub fn timed(&self, f: impl FnOnce()) {
        let watch = Stopwatch::start();
        f();
        if let Some(nanos) = watch.stop() {
            self.histogram.record(nanos);
        }
    }

    /// Observations recorded so far.
    pub fn count(&self) -> u64 {
        self.histogram.snapshot().count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(count: u64, p50_ns: u64, p99_ns: u64, max_ns: u64, sum_ns: u64) -> LatencySnapshot {
        LatencySnapshot {
            count,
            p50_ns,
            p99_ns,
            max_ns,
            mean_ns: sum_ns.checked_div(count).unwrap_or(0),
            sum_ns,
        }
    }

    fn small() -> Metrics {
        let mut m = Metrics {
            emitted: 3,
            delivered: 2,
            failed: 1,
            dead_lettered: 1,
            ..Metrics::default()
        };
        m.names.insert(
            "order.placed".to_owned(),
            NameMetrics {
                emitted: 3,
                failed: 1,
                latency: latency(3, 5_119, 1_500_000_000, 1_500_000_000, 1_500_010_000),
            },
        );
        m.handlers.insert(
            "shop::on_order".to_owned(),
            HandlerMetrics {
                delivered: 2,
                failed: 1,
                latency: latency(3, 5_119, 1_500_000_000, 1_500_000_000, 1_500_010_000),
                queue_depth: 4,
            },
        );
        m.handlers
            .insert("idle".to_owned(), HandlerMetrics::default());
        m
    }

    #[test]
    fn prometheus_text() {
        let expected = r#"# HELP herald_emitted_total Emissions accepted.
# TYPE herald_emitted_total counter
herald_emitted_total 3
# HELP herald_delivered_total Handler invocations that succeeded.
# TYPE herald_delivered_total counter
herald_delivered_total 2
# HELP herald_failed_total Handler invocations that failed.
# TYPE herald_failed_total counter
herald_failed_total 1
# HELP herald_dead_lettered_total Failed deliveries recorded as dead letters.
# TYPE herald_dead_lettered_total counter
herald_dead_lettered_total 1
# HELP herald_expired_total Deliveries skipped because the event had expired.
# TYPE herald_expired_total counter
herald_expired_total 0
# HELP herald_dropped_total Records refused by a bound.
# TYPE herald_dropped_total counter
herald_dropped_total 0
# HELP herald_name_emitted_total Emissions per record name.
# TYPE herald_name_emitted_total counter
herald_name_emitted_total{name="order.placed"} 3
# HELP herald_name_failed_total Failed handler invocations per record name.
# TYPE herald_name_failed_total counter
herald_name_failed_total{name="order.placed"} 1
# HELP herald_name_latency_seconds Handler run time per record name.
# TYPE herald_name_latency_seconds summary
herald_name_latency_seconds{name="order.placed",quantile="0.5"} 0.000005119
herald_name_latency_seconds{name="order.placed",quantile="0.99"} 1.5
herald_name_latency_seconds{name="order.placed",quantile="1"} 1.5
herald_name_latency_seconds_sum{name="order.placed"} 1.50001
herald_name_latency_seconds_count{name="order.placed"} 3
# HELP herald_handler_delivered_total Handler invocations that succeeded.
# TYPE herald_handler_delivered_total counter
herald_handler_delivered_total{handler="idle"} 0
herald_handler_delivered_total{handler="shop::on_order"} 2
# HELP herald_handler_failed_total Handler invocations that failed.
# TYPE herald_handler_failed_total counter
herald_handler_failed_total{handler="idle"} 0
herald_handler_failed_total{handler="shop::on_order"} 1
# HELP herald_handler_queue_depth Events waiting in the handler's queue.
# TYPE herald_handler_queue_depth gauge
herald_handler_queue_depth{handler="idle"} 0
herald_handler_queue_depth{handler="shop::on_order"} 4
# HELP herald_handler_latency_seconds Handler run time.
# TYPE herald_handler_latency_seconds summary
herald_handler_latency_seconds{handler="idle",quantile="0.5"} NaN
herald_handler_latency_seconds{handler="idle",quantile="0.99"} NaN
herald_handler_latency_seconds{handler="idle",quantile="1"} NaN
herald_handler_latency_seconds_sum{handler="idle"} 0
herald_handler_latency_seconds_count{handler="idle"} 0
herald_handler_latency_seconds{handler="shop::on_order",quantile="0.5"} 0.000005119
herald_handler_latency_seconds{handler="shop::on_order",quantile="0.99"} 1.5
herald_handler_latency_seconds{handler="shop::on_order",quantile="1"} 1.5
herald_handler_latency_seconds_sum{handler="shop::on_order"} 1.50001
herald_handler_latency_seconds_count{handler="shop::on_order"} 3
"#;
        assert_eq!(small().to_prometheus(), expected);
    }

    #[test]
    fn prometheus_empty_snapshot_has_only_bus_counters() {
        let text = Metrics::default().to_prometheus();
        assert_eq!(text.lines().count(), 18);
        assert!(!text.contains("herald_name_"));
        assert!(!text.contains("herald_handler_"));
    }

    #[test]
    fn prometheus_escapes_label_values() {
        let mut m = Metrics::default();
        m.names
            .insert("a\\b\"c\nd".to_owned(), NameMetrics::default());
        let text = m.to_prometheus();
        assert!(
            text.contains("herald_name_emitted_total{name=\"a\\\\b\\\"c\\nd\"} 0\n"),
            "{text}"
        );
        assert_eq!(Escaped("plain.name-1").to_string(), "plain.name-1");
    }

    #[test]
    fn seconds_are_exact_decimals() {
        let s = |ns| Seconds(ns).to_string();
        assert_eq!(s(0), "0");
        assert_eq!(s(1), "0.000000001");
        assert_eq!(s(1_000_000_000), "1");
        assert_eq!(s(12_345_000_000), "12.345");
        assert_eq!(s(u64::MAX), "18446744073.709551615");
    }

    #[test]
    fn json_shape() {
        let v = serde_json::to_value(small()).expect("json");
        for field in [
            "emitted",
            "delivered",
            "failed",
            "dead_lettered",
            "expired",
            "dropped",
        ] {
            assert!(v[field].is_u64(), "{field}");
        }
        let h = &v["handlers"]["shop::on_order"];
        assert_eq!(h["delivered"], 2);
        assert_eq!(h["queue_depth"], 4);
        assert_eq!(h["latency"]["p50_ns"], 5_119);
        for field in ["count", "p50_ns", "p99_ns", "max_ns", "mean_ns", "sum_ns"] {
            assert!(h["latency"][field].is_u64(), "{field}");
        }
        let n = &v["names"]["order.placed"];
        assert_eq!(
            (n["emitted"].as_u64(), n["failed"].as_u64()),
            (Some(3), Some(1))
        );
        assert_eq!(n["latency"]["count"], 3);
        let text: serde_json::Value =
            serde_json::from_str(&small().to_json()).expect("to_json parses");
        assert_eq!(text, v);
    }
}
