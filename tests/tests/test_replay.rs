//! Replay over history: matching records are re-delivered in their original order,
//! marked with the `replayed` label, to the current sync and async handlers, counted in
//! metrics, and never appended to history again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use herald::prelude::*;
use herald::{Bus, Envelope, Filter, Phase, Record, REPLAYED_LABEL};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "replay_test.tick")]
struct Tick {
    n: u32,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "replay_test.tock")]
struct Tock {
    n: u32,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "replay_test.async_tick")]
struct AsyncTick {
    n: u32,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "replay_test.echo")]
struct Echo {
    n: u32,
}

fn private_bus() -> Bus {
    Bus::builder().registered_handlers(false).build().unwrap()
}

fn replayed(r: &Record) -> bool {
    r.label(REPLAYED_LABEL) == Some("true")
}

/// Every record a pattern subscription sees: (name, n, replayed).
type Seen = Arc<Mutex<Vec<(String, u64, bool)>>>;

fn watch(bus: &Bus, pattern: &str) -> (Seen, herald::SubscriptionHandle) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let sub = bus.subscribe_pattern(pattern, move |r| {
        let n = r.payload_json()["n"].as_u64().unwrap_or(u64::MAX);
        s.lock()
            .unwrap()
            .push((r.name().to_owned(), n, replayed(r)));
    });
    (seen, sub)
}

#[tokio::test]
async fn replay_redelivers_matches_in_original_order_with_the_label() {
    let bus = private_bus();
    let mut originals = Vec::new();
    for n in 0..5 {
        originals.push(bus.emit(Tick { n }));
        bus.emit(Tock { n });
    }
    let (seen, _sub) = watch(&bus, "replay_test.*");
    let ids: Arc<Mutex<Vec<herald::Uuid>>> = Arc::default();
    let i = ids.clone();
    let _typed = bus.subscribe::<Tick>(move |ev| {
        assert_eq!(ev.label(REPLAYED_LABEL), Some("true"));
        i.lock().unwrap().push(ev.id());
    });

    let report = bus.replay(&Filter::new().name("replay_test.tick")).await;
    assert_eq!((report.matched, report.replayed, report.skipped), (5, 5, 0));
    assert_eq!((report.handled, report.failed), (10, 0));

    let expected: Vec<(String, u64, bool)> = (0..5)
        .map(|n| ("replay_test.tick".to_owned(), n, true))
        .collect();
    assert_eq!(*seen.lock().unwrap(), expected);
    // The copies keep the originals' ids.
    assert_eq!(*ids.lock().unwrap(), originals);

    // Nothing was appended, and the originals are unchanged.
    let history = bus.history();
    assert_eq!(history.len(), 10);
    assert!(history.iter().all(|r| !replayed(r)));
}

#[tokio::test]
async fn the_filter_decides_what_is_replayed() {
    let bus = private_bus();
    for n in 0..4 {
        bus.event(Tick { n }).source("sensor").emit();
        bus.event(Tick { n: 10 + n }).source("manual").emit();
    }
    bus.event(Tock { n: 99 })
        .phase(Phase::Completed)
        .source("sensor")
        .emit();
    let (seen, _sub) = watch(&bus, "replay_test.*");
    let ns =
        |seen: &Seen| -> Vec<u64> { seen.lock().unwrap().drain(..).map(|(_, n, _)| n).collect() };

    let report = bus.replay(&Filter::new().source("sensor")).await;
    assert_eq!(report.matched, 5);
    assert_eq!(ns(&seen), [0, 1, 2, 3, 99]);

    // `limit(n)` keeps the newest n, still oldest first.
    bus.replay(&Filter::new().name("replay_test.tick").limit(3))
        .await;
    assert_eq!(ns(&seen), [12, 3, 13]);

    bus.replay(&Filter::new().phase(Phase::Completed)).await;
    assert_eq!(ns(&seen), [99]);

    let report = bus.replay(&Filter::new().name("replay_test.nothing")).await;
    assert_eq!((report.matched, report.replayed, report.handled), (0, 0, 0));
    assert!(ns(&seen).is_empty());
}

mod async_handlers {
    use super::*;

    pub static SEEN: Mutex<Vec<(u32, bool)>> = Mutex::new(Vec::new());

    #[on(AsyncTick)]
    pub async fn record_async(ev: &Envelope<AsyncTick>) {
        tokio::task::yield_now().await;
        let replayed = ev.label(REPLAYED_LABEL) == Some("true");
        SEEN.lock().unwrap().push((ev.payload().n, replayed));
    }
}

#[tokio::test]
async fn async_handlers_are_awaited_and_see_replayed_records() {
    let bus = Bus::builder()
        .registered_handlers(false)
        .subscription(herald::subscription!(async_handlers::record_async))
        .build()
        .unwrap();
    for n in 0..3 {
        bus.emit(AsyncTick { n });
    }
    bus.flush().await;
    // On emit, async handlers run as tasks, in any order.
    let mut first = async_handlers::SEEN.lock().unwrap().clone();
    first.sort_unstable();
    assert_eq!(first, [(0, false), (1, false), (2, false)]);

    let report = bus
        .replay(&Filter::new().name("replay_test.async_tick"))
        .await;
    // Awaited: every handler has finished when replay returns, in the original order.
    assert_eq!((report.replayed, report.handled), (3, 3));
    assert_eq!(
        async_handlers::SEEN.lock().unwrap()[3..],
        [(0, true), (1, true), (2, true)]
    );
}

#[tokio::test]
async fn replayed_deliveries_are_counted_and_failures_dead_lettered() {
    let bus = private_bus();
    bus.emit(Tick { n: 1 });
    bus.emit(Tick { n: 2 });
    let ok = Arc::new(AtomicUsize::new(0));
    let o = ok.clone();
    let _good = bus.subscribe::<Tick>(move |_| {
        o.fetch_add(1, Ordering::SeqCst);
    });
    let _bad = bus
        .on::<Tick>()
        .name("picky")
        .handle(|ev| -> Result<(), String> {
            if ev.payload().n == 2 {
                Err("two is right out".into())
            } else {
                Ok(())
            }
        });
    let before = bus.metrics();

    let report = bus.replay(&Filter::new().name("replay_test.tick")).await;
    assert_eq!((report.handled, report.failed), (3, 1));
    assert_eq!(ok.load(Ordering::SeqCst), 2);

    let after = bus.metrics();
    assert_eq!(after.delivered - before.delivered, 3);
    assert_eq!(after.failed - before.failed, 1);
    assert_eq!(after.dead_lettered - before.dead_lettered, 1);
    let letters = bus.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].handler(), "picky");
    assert!(replayed(letters[0].record()));
}

#[tokio::test]
async fn events_emitted_while_handling_a_replay_are_new_records() {
    let bus = private_bus();
    let original = bus.emit(Tick { n: 4 });
    let _echo = bus.on::<Tick>().handle(|ev| Echo { n: ev.payload().n });

    bus.replay(&Filter::new().name("replay_test.tick")).await;
    let history = bus.history();
    let names: Vec<&str> = history.iter().map(|r| r.name()).collect();
    assert_eq!(names, ["replay_test.tick", "replay_test.echo"]);
    // The returned event is a child of the replayed record (same id as the original).
    assert_eq!(history[1].parent_id(), Some(original));
    assert!(!replayed(&history[1]));
}

#[tokio::test]
async fn paused_and_filtered_handlers_are_skipped() {
    let bus = private_bus();
    bus.emit(Tick { n: 1 });
    let (seen, sub) = watch(&bus, "replay_test.tick");
    let _never = bus.on::<Tick>().when(|t: &Tick| t.n > 100).handle(|_| {});
    bus.pause(sub.name()).unwrap();
    let report = bus.replay(&Filter::new()).await;
    assert_eq!((report.handled, report.filtered), (0, 2));
    assert!(seen.lock().unwrap().is_empty());
}
