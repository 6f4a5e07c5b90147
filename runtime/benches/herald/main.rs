//! herald benchmarks, peers side by side: `cargo bench -p herald [-- FILTER] [--quick]`.
//!
//! Prints one line per row while running, then a Markdown table and the ratios the
//! targets are stated in. Compare rows only within one run: machine noise is 20-30%.

mod harness;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use harness::Harness;
use herald::prelude::*;
use herald::{Bus, Completed, Record};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "bench.tick")]
struct Tick {
    n: u64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "bench.other")]
struct Other {
    n: u64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "bench.async_tick")]
struct AsyncTick {
    n: u64,
}

static ASYNC_SEEN: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "bench.bounded_tick")]
struct BoundedTick {
    n: u64,
}

#[on(BoundedTick, group = "bench_bounded", concurrency = 4)]
async fn count_bounded(ev: &BoundedTick) {
    ASYNC_SEEN.fetch_add(ev.n, Ordering::Relaxed);
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "bench.answer", kind = "response")]
struct Answer {
    n: u64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "bench.ask", kind = "query", response = Answer)]
struct Ask {
    n: u64,
}

#[on(Ask, group = "bench_request")]
fn answer(q: &Ask) -> Answer {
    Answer { n: q.n + 1 }
}

#[on(AsyncTick, group = "bench_async")]
async fn count_async(ev: &AsyncTick) {
    ASYNC_SEEN.fetch_add(ev.n, Ordering::Relaxed);
}

fn quiet_bus() -> Bus {
    Bus::builder()
        .registered_handlers(false)
        .history(0)
        .build()
        .expect("bus")
}

#[inline(never)]
fn bare(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[instrument_events]
#[inline(never)]
fn instrumented(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[instrument_events]
#[inline(never)]
fn level3(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[instrument_events]
#[inline(never)]
fn level2(x: u64) -> u64 {
    level3(x) + 1
}

#[instrument_events]
#[inline(never)]
fn level1(x: u64) -> u64 {
    level2(x) + 1
}

#[instrument_events]
async fn instrumented_async(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn traced(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn traced3(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn traced2(x: u64) -> u64 {
    traced3(x) + 1
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn traced1(x: u64) -> u64 {
    traced2(x) + 1
}

#[tracing::instrument(skip_all)]
async fn traced_async(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// A `tracing` layer that counts span closes: the peer of a herald handler on `Completed`.
struct CountingLayer(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountingLayer {
    fn on_close(&self, _id: tracing::span::Id, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A `tracing` layer that times each span from creation to close and adds the time up:
/// the peer of a herald handler on `Completed` that reads its `duration`.
struct TimingLayer(Arc<AtomicU64>);

struct SpanStart(Instant);

impl<S> tracing_subscriber::Layer<S> for TimingLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        _attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanStart(Instant::now()));
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(start) = ctx
            .span(&id)
            .and_then(|span| span.extensions().get::<SpanStart>().map(|s| s.0))
        {
            self.0
                .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
    }
}

fn timing_dispatch(total: &Arc<AtomicU64>) -> tracing::Dispatch {
    use tracing_subscriber::layer::SubscriberExt;
    tracing::Dispatch::new(tracing_subscriber::registry().with(TimingLayer(total.clone())))
}

fn tracing_dispatch() -> (tracing::Dispatch, Arc<AtomicU64>) {
    use tracing_subscriber::layer::SubscriberExt;
    let count = Arc::new(AtomicU64::new(0));
    let subscriber = tracing_subscriber::registry().with(CountingLayer(count.clone()));
    (tracing::Dispatch::new(subscriber), count)
}

fn peers(h: &mut Harness) {
    h.bench("peers", "direct call", || {
        black_box(bare(black_box(1)));
    });
    h.bench("peers", "uuid::Uuid::new_v4", || {
        black_box(herald::Uuid::new_v4());
    });
    h.bench("peers", "std::time::SystemTime::now", || {
        black_box(std::time::SystemTime::now());
    });
    let (tx, mut rx) = tokio::sync::broadcast::channel::<u64>(1024);
    h.bench(
        "peers",
        "tokio broadcast send+try_recv (1 receiver)",
        || {
            let _ = tx.send(black_box(1));
            black_box(rx.try_recv().ok());
        },
    );
}

fn emit(h: &mut Harness) {
    let bus = quiet_bus();
    let disabled = Bus::disabled();
    let seen = Arc::new(AtomicU64::new(0));
    let one = quiet_bus();
    let s = seen.clone();
    let _one = one.subscribe::<Tick>(move |ev| {
        s.fetch_add(ev.payload().n, Ordering::Relaxed);
    });
    let (patterned, _patterns) = patterned_bus(&seen);
    let f: &dyn Fn(u64) -> u64 = &|x| black_box(x).wrapping_mul(3);
    let f = black_box(f);
    // The rows the emit targets are stated in, measured side by side.
    h.bench_side_by_side(
        "emit",
        &mut [
            ("call through &dyn Fn (peer)", &mut |n| {
                for _ in 0..n {
                    black_box(f(black_box(1)));
                }
            }),
            ("one record id with its timestamp", &mut |n| {
                for _ in 0..n {
                    black_box(herald::__private::new_stamped_id());
                }
            }),
            ("no matching handler (history off)", &mut |n| {
                for _ in 0..n {
                    black_box(bus.emit(Tick { n: 1 }));
                }
            }),
            ("Bus::disabled()", &mut |n| {
                for _ in 0..n {
                    black_box(disabled.emit(Tick { n: 1 }));
                }
            }),
            ("1 typed sync handler (history off)", &mut |n| {
                for _ in 0..n {
                    black_box(one.emit(Tick { n: 1 }));
                }
            }),
            ("1 typed handler + 1,000 non-matching patterns", &mut |n| {
                for _ in 0..n {
                    black_box(patterned.emit(Tick { n: 1 }));
                }
            }),
        ],
    );

    let with_history = Bus::builder()
        .registered_handlers(false)
        .build()
        .expect("bus");
    let s = seen.clone();
    let _h = with_history.subscribe::<Tick>(move |ev| {
        s.fetch_add(ev.payload().n, Ordering::Relaxed);
    });
    h.bench("emit", "1 typed sync handler (history 10k)", || {
        black_box(with_history.emit(Tick { n: 1 }));
    });

    let ten = quiet_bus();
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let s = seen.clone();
            ten.subscribe::<Tick>(move |ev| {
                s.fetch_add(ev.payload().n, Ordering::Relaxed);
            })
        })
        .collect();
    h.bench("emit", "10 typed sync handlers (history off)", || {
        black_box(ten.emit(Tick { n: 1 }));
    });
    drop(handles);

    if h.wants("emit", "1,000 patterns + 1,000 predicates, 2 match") {
        mixed_row(h, &seen);
    }

    let batch: Vec<Tick> = (0..100).map(|n| Tick { n }).collect();
    h.bench_batched(
        "emit",
        "emit_batch of 100, 1 handler (per event)",
        100,
        |n| {
            for _ in 0..n {
                black_box(one.emit_batch(batch.iter().cloned()));
            }
        },
    );
    black_box(seen.load(Ordering::Relaxed));
}

/// A bus with one matching typed handler plus 1,000 pattern subscriptions that never
/// match (and the handles that keep them).
fn patterned_bus(seen: &Arc<AtomicU64>) -> (Bus, Vec<herald::SubscriptionHandle>) {
    let patterned = quiet_bus();
    let s = seen.clone();
    let mut handles = vec![patterned.subscribe::<Tick>(move |ev| {
        s.fetch_add(ev.payload().n, Ordering::Relaxed);
    })];
    handles.extend(
        (0..1000).map(|i| patterned.subscribe_pattern(&format!("other{i}.*"), |_: &Record| {})),
    );
    (patterned, handles)
}

fn mixed_row(h: &mut Harness, seen: &Arc<AtomicU64>) {
    // 1,000 pattern + 1,000 predicate subscriptions, of which 2 match.
    let mixed = quiet_bus();
    let mut keep = Vec::new();
    for i in 0..1000u64 {
        let pattern = if i == 0 {
            "bench.*".to_owned()
        } else {
            format!("bench{i}.*")
        };
        let s = seen.clone();
        keep.push(mixed.subscribe_pattern(&pattern, move |_: &Record| {
            s.fetch_add(1, Ordering::Relaxed);
        }));
        let s = seen.clone();
        keep.push(
            mixed
                .on::<Tick>()
                .when(move |t: &Tick| t.n == i + 1)
                .handle(move |_| {
                    s.fetch_add(1, Ordering::Relaxed);
                }),
        );
    }
    h.bench("emit", "1,000 patterns + 1,000 predicates, 2 match", || {
        black_box(mixed.emit(Tick { n: 1 }));
    });
    drop(keep);
}

fn instrument(h: &mut Harness) {
    let quiet = quiet_bus();
    let bus = quiet_bus();
    let completed = Arc::new(AtomicU64::new(0));
    let c = completed.clone();
    let _sub = bus.subscribe::<Completed>(move |_| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    let (dispatch, closed) = tracing_dispatch();
    // Every row runs `n` calls in the context it needs, and all are measured side by
    // side, so the herald rows and their `tracing` peers compare within each sample.
    macro_rules! on {
        ($bus:expr, $call:ident) => {
            &mut |n: u64| {
                herald::with_bus(&$bus, || {
                    for _ in 0..n {
                        black_box($call(black_box(1)));
                    }
                })
            }
        };
    }
    macro_rules! traced_with {
        ($dispatch:expr, $call:ident) => {
            &mut |n: u64| {
                tracing::dispatcher::with_default(&$dispatch, || {
                    for _ in 0..n {
                        black_box($call(black_box(1)));
                    }
                })
            }
        };
    }
    let no_tracing = tracing::Dispatch::none();
    let timed_total = Arc::new(AtomicU64::new(0));
    let timing = timing_dispatch(&timed_total);
    h.bench_side_by_side(
        "instrument",
        &mut [
            ("bare call", on!(quiet, bare)),
            ("instrumented call, no subscriber", on!(quiet, instrumented)),
            ("three-level nesting, no subscriber", on!(quiet, level1)),
            (
                "instrumented call, 1 subscriber on Completed",
                on!(bus, instrumented),
            ),
            (
                "three-level nesting, 1 subscriber on Completed",
                on!(bus, level1),
            ),
            (
                "tracing::instrument, registry + counting layer",
                traced_with!(dispatch, traced),
            ),
            (
                "tracing three-level nesting, registry + layer",
                traced_with!(dispatch, traced1),
            ),
            (
                "tracing::instrument, registry + a layer timing each span",
                traced_with!(timing, traced),
            ),
            (
                "tracing::instrument, no subscriber",
                traced_with!(no_tracing, traced),
            ),
        ],
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(herald::scope(&bus, async {
        // Polled by hand inside one task: measures the instrumentation, not the executor.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut herald_async = |n: u64| {
            for _ in 0..n {
                let mut fut = std::pin::pin!(instrumented_async(black_box(1)));
                assert!(black_box(fut.as_mut().poll(&mut cx)).is_ready());
            }
        };
        let mut cx = std::task::Context::from_waker(waker);
        let mut traced_async_calls = |n: u64| {
            tracing::dispatcher::with_default(&dispatch, || {
                for _ in 0..n {
                    let mut fut = std::pin::pin!(traced_async(black_box(1)));
                    assert!(black_box(fut.as_mut().poll(&mut cx)).is_ready());
                }
            })
        };
        h.bench_side_by_side(
            "instrument",
            &mut [
                ("async instrumented call, 1 subscriber", &mut herald_async),
                (
                    "tracing async instrumented call, registry + layer",
                    &mut traced_async_calls,
                ),
            ],
        );
    }));
    black_box((
        completed.load(Ordering::Relaxed),
        closed.load(Ordering::Relaxed),
        timed_total.load(Ordering::Relaxed),
    ));
}

use std::future::Future;

fn async_dispatch(h: &mut Harness) {
    let bus = Bus::builder()
        .group("bench_async")
        .history(0)
        .build()
        .expect("bus");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    h.bench_batched(
        "async",
        "emit to 1 async handler + flush (per event)",
        1000,
        |n| {
            rt.block_on(async {
                for _ in 0..n {
                    for i in 0..1000 {
                        bus.emit(AsyncTick { n: i });
                    }
                    bus.flush().await;
                }
            });
        },
    );
    let (tx, _) = tokio::sync::broadcast::channel::<u64>(4096);
    h.bench_batched(
        "async",
        "tokio broadcast to 1 receiver task (per event)",
        1000,
        |n| {
            rt.block_on(async {
                for _ in 0..n {
                    let mut rx = tx.subscribe();
                    let reader = tokio::spawn(async move {
                        let mut got = 0;
                        while got < 1000 {
                            if rx.recv().await.is_ok() {
                                got += 1;
                            }
                        }
                    });
                    for i in 0..1000 {
                        let _ = tx.send(i);
                        if i % 256 == 255 {
                            tokio::task::yield_now().await;
                        }
                    }
                    let _ = reader.await;
                }
            });
        },
    );
    if !h.wants("async", "concurrency = 4") {
        return;
    }
    let bounded = Bus::builder()
        .group("bench_bounded")
        .history(0)
        .queue_capacity(200_000)
        .build()
        .expect("bus");
    let events = if h.quick() { 10_000 } else { 100_000 };
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let mut samples: Vec<f64> = (0..if h.quick() { 2 } else { 5 })
        .map(|_| {
            multi.block_on(async {
                let start = Instant::now();
                for n in 0..events {
                    bounded.emit(BoundedTick { n });
                }
                bounded.flush().await;
                start.elapsed().as_nanos() as f64 / events as f64
            })
        })
        .collect();
    h.record(
        "async",
        format!("{events} events to an async handler with concurrency = 4 (per event)"),
        &mut samples,
    );
    black_box(ASYNC_SEEN.load(Ordering::Relaxed));
}

fn request(h: &mut Harness) {
    let bus = Bus::builder()
        .group("bench_request")
        .history(0)
        .build()
        .expect("bus");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    h.bench_batched(
        "request",
        "bus.request round trip (current-thread runtime)",
        1,
        |n| {
            rt.block_on(async {
                for i in 0..n {
                    black_box(bus.request(Ask { n: i }).await.expect("answered"));
                }
            });
        },
    );
    h.bench_batched(
        "request",
        "tokio oneshot round trip via a task (peer)",
        1,
        |n| {
            rt.block_on(async {
                for i in 0..n {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let (qtx, qrx) = tokio::sync::oneshot::channel::<u64>();
                    tokio::spawn(async move {
                        if let Ok(q) = qrx.await {
                            let _ = tx.send(q + 1);
                        }
                    });
                    let _ = qtx.send(i);
                    black_box(rx.await.expect("answered"));
                }
            });
        },
    );
}

fn threads(h: &mut Harness) {
    if !h.wants("threads", "emit") {
        return;
    }
    let bus = quiet_bus();
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let _sub = bus.subscribe::<Tick>(move |ev| {
        black_box(ev.payload().n);
        let _ = &s;
    });
    let per_thread: u64 = if h.quick() { 200_000 } else { 2_000_000 };
    let run = |threads: u64| -> f64 {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let bus = bus.clone();
                scope.spawn(move || {
                    for n in 0..per_thread {
                        black_box(bus.emit(Tick { n }));
                    }
                });
            }
        });
        start.elapsed().as_nanos() as f64 / (per_thread * threads) as f64
    };
    run(1);
    let samples = if h.quick() { 3 } else { 9 };
    // Alternated, so that a change in the machine's load moves both alike.
    let (mut one, mut two): (Vec<f64>, Vec<f64>) = (0..samples).map(|_| (run(1), run(2))).unzip();
    h.record(
        "threads",
        "emit, 1 handler, 1 thread (wall ns per event)",
        &mut one,
    );
    h.record(
        "threads",
        "emit, 1 handler, 2 threads (wall ns per event)",
        &mut two,
    );
}

fn metrics_rows(h: &mut Harness) {
    let probe = Arc::new(herald::Metrics::__probe());
    let mut v = 0u64;
    h.bench("metrics", "LatencyHistogram::record", || {
        v = (v + 37) & 4095;
        probe.record(black_box(200 + v));
    });
    h.bench("metrics", "Counter::incr", || probe.incr());
    h.bench(
        "metrics",
        "per delivery: sampled stopwatch + record + 2 Counter::incr",
        || probe.delivery(|| black_box(())),
    );
    h.bench(
        "metrics",
        "per delivery, always timed: 2 clock reads + record",
        || probe.timed(|| black_box(())),
    );
    if !h.wants("metrics", "LatencyHistogram::record, 2 threads") {
        return;
    }
    let per_thread: u64 = if h.quick() { 200_000 } else { 2_000_000 };
    let run = |threads: u64| -> f64 {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for t in 0..threads {
                let probe = probe.clone();
                scope.spawn(move || {
                    for n in 0..per_thread {
                        probe.record(black_box(200 + ((n + t) & 63)));
                    }
                });
            }
        });
        start.elapsed().as_nanos() as f64 / per_thread as f64
    };
    let samples = if h.quick() { 3 } else { 9 };
    // Alternated, so that a change in the machine's load moves both alike.
    let (mut one, mut two): (Vec<f64>, Vec<f64>) = (0..samples).map(|_| (run(1), run(2))).unzip();
    h.record(
        "metrics",
        "LatencyHistogram::record, 1 thread (wall ns per record per thread)",
        &mut one,
    );
    h.record(
        "metrics",
        "LatencyHistogram::record, 2 threads, one histogram (wall ns per record per thread)",
        &mut two,
    );
    black_box(probe.count());
}

/// Store rows: append throughput through a bus (the writer thread batches) beside the
/// same inserts made directly with rusqlite, and query latency by name + time window on
/// a file of 1M records (100k with `--quick`).
#[cfg(feature = "sqlite")]
#[cfg(feature = "sqlite")]
fn store(h: &mut Harness) {
    use herald::store::SqliteStore;
    use herald::store::StoreMetrics;
    use herald::{Filter, Started};

    let quick = h.quick();
    let rows_in_db: usize = if quick { 100_000 } else { 1_000_000 };
    let db_label = if quick { "100k" } else { "1M" };
    let append_row = "append through a bus, batched (wall ns per record)";
    let peer_row = "peer: rusqlite INSERTs of the same rows, 4,096 per transaction";
    let window_row = format!("query {db_label}: name + 10% time window, stored rows");
    let decoded_row = format!("query {db_label}: name + 10% time window, decoded records");
    let newest_row = format!("query {db_label}: glob + time window, newest 100");
    let query_rows = [window_row.as_str(), &decoded_row, &newest_row];
    if ![append_row, peer_row]
        .iter()
        .chain(&query_rows)
        .any(|n| h.wants("store", n))
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("herald-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    // 100 operations: each name holds 1% of the records.
    let names: Vec<&'static str> = (0..100)
        .map(|i| &*format!("bench.store.op{i:02}").leak())
        .collect();
    let started = |k: usize| Started {
        operation: names[k % names.len()].into(),
        args: Vec::new(),
    };
    // Appends `total` records to the file at `path`; returns wall ns per record.
    let append = |path: &std::path::Path, total: usize| -> (f64, StoreMetrics) {
        let store = SqliteStore::open(path).expect("store");
        let bus = Bus::builder()
            .registered_handlers(false)
            .history(0)
            .store(store.clone())
            .build()
            .expect("bus");
        let start = Instant::now();
        let mut sent = 0;
        while sent < total {
            // Stay under the queue capacity: the row measures writing, not refusals.
            while store.metrics().pending() > 32_768 {
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
            let burst = (total - sent).min(1_000);
            bus.emit_batch((sent..sent + burst).map(started));
            sent += burst;
        }
        rt.block_on(store.flush());
        let ns = start.elapsed().as_nanos() as f64 / total as f64;
        (ns, store.metrics())
    };
    let per_sample = if quick { 50_000 } else { 200_000 };
    let samples = if quick { 3 } else { 5 };

    if h.wants("store", append_row) {
        let mut ns: Vec<f64> = (0..samples)
            .map(|i| {
                let path = dir.join(format!("append-{i}.db"));
                let (ns, m) = append(&path, per_sample);
                assert_eq!((m.written, m.lost), (per_sample as u64, 0), "{m:?}");
                let _ = std::fs::remove_file(&path);
                ns
            })
            .collect();
        h.record("store", append_row, &mut ns);
        if let Some(ns) = h.get("store", append_row) {
            eprintln!(
                "  -> store append: {:.0} records/s (median); target >= 100,000",
                1e9 / ns
            );
        }
    }

    if h.wants("store", peer_row) {
        // The rows the writer would insert, made before the clock starts.
        let bus = Bus::builder()
            .registered_handlers(false)
            .history(per_sample)
            .build()
            .expect("bus");
        bus.emit_batch((0..per_sample).map(started));
        let rows: Vec<[String; 8]> = bus
            .history()
            .iter()
            .map(|r| {
                [
                    r.id().to_string(),
                    r.name().to_owned(),
                    r.event_name().to_owned(),
                    r.kind().as_str().to_owned(),
                    r.phase().as_str().to_owned(),
                    r.root_id().to_string(),
                    r.correlation_id().to_string(),
                    r.to_json(),
                ]
            })
            .collect();
        let stamps: Vec<i64> = bus
            .history()
            .iter()
            .map(|r| {
                let since = r.timestamp().duration_since(std::time::UNIX_EPOCH);
                since.map_or(0, |d| d.as_nanos() as i64)
            })
            .collect();
        let mut ns: Vec<f64> = (0..samples)
            .map(|i| {
                let path = dir.join(format!("peer-{i}.db"));
                drop(SqliteStore::open(&path).expect("schema"));
                let conn = rusqlite::Connection::open(&path).expect("open");
                conn.execute_batch(
                    "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768; \
                     PRAGMA wal_autocheckpoint = 4096;",
                )
                .expect("pragmas");
                let start = Instant::now();
                let mut insert = conn
                    .prepare(
                        "INSERT INTO records (id, name, event, kind, phase, timestamp_ns, \
                         root_id, correlation_id, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )
                    .expect("prepare");
                for (chunk, ts) in rows.chunks(4_096).zip(stamps.chunks(4_096)) {
                    conn.execute_batch("BEGIN").expect("begin");
                    for (r, t) in chunk.iter().zip(ts) {
                        insert
                            .execute(rusqlite::params![
                                r[0], r[1], r[2], r[3], r[4], t, r[5], r[6], r[7]
                            ])
                            .expect("insert");
                    }
                    conn.execute_batch("COMMIT").expect("commit");
                }
                drop(insert);
                drop(conn);
                let ns = start.elapsed().as_nanos() as f64 / per_sample as f64;
                let _ = std::fs::remove_file(&path);
                ns
            })
            .collect();
        h.record("store", peer_row, &mut ns);
    }

    if query_rows.iter().any(|n| h.wants("store", n)) {
        let path = dir.join("query.db");
        let before = std::time::SystemTime::now();
        let (ns, m) = append(&path, rows_in_db);
        let after = std::time::SystemTime::now();
        assert_eq!(m.written, rows_in_db as u64, "{m:?}");
        eprintln!(
            "  (built a {db_label}-record store in {:.1} s: {:.0} records/s)",
            ns * rows_in_db as f64 / 1e9,
            1e9 / ns
        );
        let store = SqliteStore::open_read_only(&path).expect("store");
        let span = after.duration_since(before).expect("clock");
        let since = before + span.mul_f64(0.45);
        let until = before + span.mul_f64(0.55);
        let by_name = Filter::new()
            .name("bench.store.op42.started")
            .since(since)
            .until(until);
        let hits = store.query_stored(&by_name).expect("query").len();
        h.bench("store", window_row.clone(), || {
            black_box(store.query_stored(&by_name).expect("query").len());
        });
        h.bench("store", decoded_row.clone(), || {
            black_box(store.query(&by_name).expect("query").len());
        });
        let newest = Filter::new()
            .name("bench.store.*.started")
            .since(since)
            .until(until)
            .limit(100);
        h.bench("store", newest_row.clone(), || {
            black_box(store.query_stored(&newest).expect("query").len());
        });
        if let Some(ns) = h.get("store", &window_row) {
            eprintln!(
                "  -> store query on {db_label} records by name + time window ({hits} hits): {:.2} ms",
                ns / 1e6
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let mut h = Harness::from_args();
    eprintln!(
        "herald benchmarks ({} mode)",
        if h.quick() { "quick" } else { "full" }
    );
    peers(&mut h);
    emit(&mut h);
    instrument(&mut h);
    async_dispatch(&mut h);
    request(&mut h);
    threads(&mut h);
    metrics_rows(&mut h);
    #[cfg(feature = "sqlite")]
    store(&mut h);
    h.print_table();

    println!();
    println!("Targets (ratios within this run):");
    let r = |g: &str, n: &str| h.get(g, n);
    // The cost of one id: a new record id with the clock reading it is stamped with,
    // as every delivered emission makes it (the uuid crate's `new_v4` reads the OS
    // random source per call, so it is no reference). `Bus::disabled()` makes cheaper
    // ids, of records nothing keeps, and is shown beside it.
    if let (Some(one), Some(dynf), Some(id), Some(unkept)) = (
        r("emit", "1 typed sync handler (history off)"),
        r("emit", "call through &dyn Fn (peer)"),
        r("emit", "one record id with its timestamp"),
        r("emit", "Bus::disabled()"),
    ) {
        println!(
            "- emit, 1 typed handler: {one:.1} ns = {:.2}x (&dyn Fn + one id = {:.1} ns; with the id of `Bus::disabled()`: {:.2}x); target <= 4x and < 60 ns",
            one / (dynf + id),
            dynf + id,
            one / (dynf + unkept),
        );
    }
    if let Some(none) = r("emit", "no matching handler (history off)") {
        println!("- emit, no matching handler: {none:.1} ns; target < 15 ns");
    }
    if let (Some(bare), Some(inst)) = (
        r("instrument", "bare call"),
        r("instrument", "instrumented call, no subscriber"),
    ) {
        println!(
            "- instrumented call, no subscriber: +{:.1} ns over the bare call; target < 30 ns",
            inst - bare
        );
    }
    if let (Some(inst), Some(tr)) = (
        r("instrument", "instrumented call, 1 subscriber on Completed"),
        r(
            "instrument",
            "tracing::instrument, registry + counting layer",
        ),
    ) {
        println!("- instrumented call, 1 subscriber: {inst:.1} ns vs tracing {tr:.1} ns = {:.2}x; target <= 1x", inst / tr);
        if let Some(timed) = r(
            "instrument",
            "tracing::instrument, registry + a layer timing each span",
        ) {
            println!("  (herald times each call for its `duration`; against a tracing layer that times each span too: {timed:.1} ns = {:.2}x)", inst / timed);
        }
    }
    if let (Some(p), Some(one)) = (
        r("emit", "1 typed handler + 1,000 non-matching patterns"),
        r("emit", "1 typed sync handler (history off)"),
    ) {
        println!(
            "- 1,000 non-matching patterns add {:.1} ns to an emit; target < 10 ns",
            p - one
        );
    }
    if let (Some(req), Some(oneshot)) = (
        r("request", "bus.request round trip (current-thread runtime)"),
        r("request", "tokio oneshot round trip via a task (peer)"),
    ) {
        println!("- request/response round trip: {req:.1} ns = {:.2}x a tokio oneshot round trip; target <= 3x", req / oneshot);
    }
    if let (Some(one), Some(two)) = (
        r("threads", "emit, 1 handler, 1 thread (wall ns per event)"),
        r("threads", "emit, 1 handler, 2 threads (wall ns per event)"),
    ) {
        println!(
            "- two threads emitting: {:.2}x the throughput of one; target >= 1.6x",
            one / two
        );
    }
}
