//! Retries with backoff, per-handler concurrency limits, bounded queues and their
//! overflow accounting, and expiry while queued.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald::prelude::*;
use herald::{Bus, Overflow};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "delivery_test.job")]
struct Job {
    n: u32,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "delivery_test.bounded")]
struct Bounded {
    n: u32,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "delivery_test.slow")]
struct Slow {
    n: u32,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "delivery_test.flaky")]
struct Flaky {
    n: u32,
}

fn quiet() -> Bus {
    Bus::builder()
        .registered_handlers(false)
        .history(0)
        .build()
        .expect("bus")
}

#[tokio::test(start_paused = true)]
async fn sync_handler_retries_with_growing_backoff_then_dead_letters() {
    let bus = quiet();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let a = attempts.clone();
    let _sub = bus
        .on::<Job>()
        .name("always_fails")
        .retry(2)
        .backoff(Duration::from_millis(100))
        .handle(move |_| -> Result<(), String> {
            a.lock().unwrap().push(tokio::time::Instant::now());
            Err("boom".into())
        });
    bus.emit(Job { n: 1 });
    // The first attempt ran inline.
    assert_eq!(attempts.lock().unwrap().len(), 1);
    assert!(
        bus.dead_letters().is_empty(),
        "not dead-lettered before its retries"
    );
    bus.flush().await;

    let at = attempts.lock().unwrap().clone();
    assert_eq!(at.len(), 3, "one attempt and two retries");
    let first_gap = at[1] - at[0];
    let second_gap = at[2] - at[1];
    assert!(
        first_gap >= Duration::from_millis(80) && first_gap <= Duration::from_millis(120),
        "first wait {first_gap:?} is 100ms with jitter"
    );
    assert!(
        second_gap >= Duration::from_millis(160) && second_gap <= Duration::from_millis(240),
        "second wait {second_gap:?} is 200ms with jitter"
    );
    let dead = bus.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts(), 3);
    assert_eq!(dead[0].handler(), "always_fails");
    assert_eq!(dead[0].error(), "boom");
    let m = bus.metrics();
    assert_eq!(m.failed, 3);
    assert_eq!(m.dead_lettered, 1);
    assert_eq!(m.delivered, 0);
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_succeeds_is_delivered_not_dead_lettered() {
    let bus = quiet();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let _sub = bus
        .on::<Job>()
        .retry(3)
        .handle(move |_| -> Result<(), String> {
            if c.fetch_add(1, Ordering::SeqCst) < 2 {
                Err("not yet".into())
            } else {
                Ok(())
            }
        });
    let delivery = bus.emit_and_wait(Job { n: 1 }).await;
    assert_eq!(delivery.handled, 1);
    assert_eq!(delivery.failed, 0);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(bus.dead_letters().is_empty());
    let m = bus.metrics();
    assert_eq!((m.delivered, m.failed, m.dead_lettered), (1, 2, 0));
}

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static MAX_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static BOUNDED_DONE: AtomicUsize = AtomicUsize::new(0);

#[on(Bounded, group = "delivery_bounded", concurrency = 4)]
async fn bounded_handler(_: &Bounded) {
    let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
    MAX_IN_FLIGHT.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_micros(200)).await;
    tokio::task::yield_now().await;
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    BOUNDED_DONE.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_n_invocations_are_in_flight() {
    let bus = Bus::builder()
        .group("delivery_bounded")
        .history(0)
        .queue_capacity(2_000)
        .build()
        .expect("bus");
    for n in 0..1_000 {
        bus.emit(Bounded { n });
    }
    bus.flush().await;
    assert_eq!(BOUNDED_DONE.load(Ordering::SeqCst), 1_000);
    let max = MAX_IN_FLIGHT.load(Ordering::SeqCst);
    assert!(max <= 4, "{max} invocations were in flight at once");
    assert!(max >= 2, "the four workers ran concurrently (max {max})");
    let m = bus.metrics();
    assert_eq!(m.delivered, 1_000);
    assert_eq!(m.dropped, 0);
}

#[on(Slow, group = "delivery_slow", concurrency = 1)]
async fn slow_handler(_: &Slow) {
    tokio::time::sleep(Duration::from_millis(10)).await;
}

fn slow_bus(policy: Overflow) -> Bus {
    Bus::builder()
        .group("delivery_slow")
        .history(0)
        .queue_capacity(10)
        .overflow(policy)
        .build()
        .expect("bus")
}

#[tokio::test(start_paused = true)]
async fn overflow_is_counted_never_silent() {
    for policy in [Overflow::DropOldest, Overflow::DeadLetter] {
        let bus = slow_bus(policy);
        // Emitting without yielding: the single worker cannot drain the queue meanwhile.
        for n in 0..1_000 {
            bus.emit(Slow { n });
        }
        bus.flush().await;
        let m = bus.metrics();
        let (_, handler) = m
            .handlers
            .iter()
            .find(|(name, _)| name.ends_with("::slow_handler"))
            .expect("the handler has metrics");
        assert_eq!(handler.delivered, m.delivered);
        assert_eq!(
            m.delivered + m.dropped + m.dead_lettered,
            1_000,
            "{policy:?}: delivered {} + dropped {} + dead-lettered {}",
            m.delivered,
            m.dropped,
            m.dead_lettered
        );
        match policy {
            Overflow::DropOldest => assert!(m.dropped > 0 && m.dead_lettered == 0),
            _ => {
                assert!(m.dead_lettered > 0 && m.dropped == 0);
                assert!(bus.dead_letters()[0].error().contains("queue full"));
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn emit_and_wait_waits_for_room() {
    let bus = slow_bus(Overflow::DeadLetter);
    for n in 0..10 {
        bus.emit(Slow { n });
    }
    // The queue is full; this one waits for room instead of being refused.
    let delivery = bus.emit_and_wait(Slow { n: 99 }).await;
    assert_eq!(delivery.handled, 1);
    assert_eq!(delivery.dropped, 0);
    bus.flush().await;
    assert_eq!(bus.metrics().delivered, 11);
    assert_eq!(bus.metrics().dead_lettered, 0);
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[on(Flaky, group = "delivery_flaky", retry = 2, backoff = "10ms")]
async fn flaky_handler(_: &Flaky) -> Result<(), String> {
    match FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) {
        0 => panic!("first attempt panics"),
        1 => Err("second attempt errs".into()),
        _ => Ok(()),
    }
}

#[tokio::test(start_paused = true)]
async fn async_handlers_are_retried_without_blocking_the_emitter() {
    let bus = Bus::builder()
        .group("delivery_flaky")
        .history(0)
        .build()
        .expect("bus");
    bus.emit(Flaky { n: 1 });
    assert_eq!(
        FLAKY_CALLS.load(Ordering::SeqCst),
        0,
        "async handlers never run inside emit"
    );
    bus.flush().await;
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 3);
    let m = bus.metrics();
    assert_eq!((m.delivered, m.failed, m.dead_lettered), (1, 2, 0));
}

// Expiry is judged on the wall clock, so this test runs in real time: each handler
// call sleeps at least 10ms, so the third event cannot start before 20ms.
#[tokio::test]
async fn events_that_expire_while_queued_are_skipped_and_counted() {
    let bus = slow_bus(Overflow::DropOldest);
    for n in 0..3 {
        bus.event(Slow { n }).ttl(Duration::from_millis(15)).emit();
    }
    bus.flush().await;
    // The first runs at once; the second starts 10ms later (alive); the third would
    // start 20ms later, after its 15ms ttl.
    let m = bus.metrics();
    assert!(
        m.delivered >= 1,
        "the first event was alive when it started"
    );
    assert_eq!(m.delivered + m.expired, 3);
    assert!(
        m.expired >= 1,
        "at least the last event expired while queued"
    );
}
