//! The bus: the disabled bus, batches, waiting for delivery, flushing, failure isolation,
//! dead letters, metrics, and which bus `herald::emit` sends to.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald::error::BusError;
use herald::prelude::*;
use herald::{Bus, Filter, Record, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "bus.tick")]
pub struct BusTick {
    pub n: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "bus.task")]
pub struct BusTask {
    pub n: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "bus.command", kind = "command")]
pub struct BusCommand {
    pub n: u32,
}

fn private_bus() -> Bus {
    Bus::builder().registered_handlers(false).build().unwrap()
}

fn ids(records: &[Record]) -> Vec<Uuid> {
    records.iter().map(|r| r.id()).collect()
}

// ---- ids -----------------------------------------------------------------------------

#[test]
fn every_emission_gets_a_unique_time_ordered_v7_id() {
    let bus = private_bus();
    let mine: Vec<Uuid> = (0..1_000).map(|n| bus.emit(BusTick { n })).collect();
    assert!(mine.iter().all(|id| id.get_version_num() == 7));
    assert!(
        mine.windows(2).all(|w| w[0] < w[1]),
        "ids from one thread increase"
    );

    let from_threads: Vec<Uuid> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..1_000)
                        .map(|n| bus.emit(BusTick { n }))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let all: std::collections::HashSet<Uuid> = mine.iter().chain(&from_threads).copied().collect();
    assert_eq!(all.len(), 5_000);
    assert_eq!(bus.history().len(), 5_000);
}

// ---- the disabled bus ----------------------------------------------------------------

#[instrument_events(name = "bus_disabled.op")]
fn disabled_op(n: u32) -> u32 {
    herald::emit(BusTick { n });
    n + 1
}

#[tokio::test]
async fn a_disabled_bus_accepts_everything_and_keeps_nothing() {
    let bus = Bus::disabled();
    assert!(bus.is_disabled());
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let _sub = bus.subscribe::<BusTick>(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    let a = bus.emit(BusTick { n: 1 });
    let b = bus.event(BusTick { n: 2 }).source("x").emit();
    assert_ne!(a, b);
    assert_eq!(bus.emit_batch((0..3).map(|n| BusTick { n })).len(), 3);
    let delivery = bus.emit_and_wait(BusTick { n: 4 }).await;
    assert_eq!(
        (delivery.handled, delivery.failed, delivery.filtered),
        (0, 0, 0)
    );
    assert_eq!(herald::with_bus(&bus, || disabled_op(5)), 6);
    bus.flush().await;

    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(bus.history().is_empty());
    assert!(bus.get(a).is_none());
    assert!(bus.dead_letters().is_empty());
    let m = bus.metrics();
    assert_eq!((m.emitted, m.delivered, m.failed), (0, 0, 0));
    // Nothing leaked to the global bus either.
    assert!(herald::bus()
        .query(&Filter::new().name("bus_disabled.op.*"))
        .is_empty());
}

// ---- batches -------------------------------------------------------------------------

#[instrument_events(name = "bus.batch_op")]
fn batch_op(bus: &Bus) -> Vec<Uuid> {
    bus.emit_batch([BusTick { n: 10 }, BusTick { n: 11 }])
}

#[test]
fn emit_batch_is_repeated_emit() {
    let bus = private_bus();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let _sub = bus.subscribe::<BusTick>(move |env| s.lock().unwrap().push(env.payload().n));
    let batch = bus.emit_batch((0..5).map(|n| BusTick { n }));
    assert_eq!(batch.len(), 5);
    assert_eq!(ids(&bus.history()), batch);
    assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 3, 4]);
    let m = bus.metrics();
    assert_eq!((m.emitted, m.delivered), (5, 5));
    assert!(bus.history().iter().all(|r| r.parent_id().is_none()));

    // Inside an instrumented call, batched events nest like emitted ones.
    let nested = herald::with_bus(&bus, || batch_op(&bus));
    let started = &bus.query(&Filter::new().name("bus.batch_op.started"))[0];
    for id in nested {
        let r = bus.get(id).unwrap();
        assert_eq!(r.parent_id(), Some(started.id()));
        assert_eq!(r.root_id(), started.id());
    }
    assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 3, 4, 10, 11]);
    assert!(bus.emit_batch(Vec::<BusTick>::new()).is_empty());
}

// ---- waiting for delivery ------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "bus.wait")]
pub struct BusWait {
    pub n: u32,
}

mod waiting {
    use super::*;

    pub static ASYNC_DONE: AtomicU32 = AtomicU32::new(0);

    fn never(_: &BusWait) -> bool {
        false
    }

    #[on(BusWait, group = "bus_wait")]
    fn sync_ok(_: &BusWait) {}

    #[on(BusWait, group = "bus_wait")]
    fn sync_err(ev: &BusWait) -> Result<(), String> {
        Err(format!("sync says no to {}", ev.n))
    }

    #[on(BusWait, group = "bus_wait")]
    async fn async_ok(ev: &BusWait) {
        tokio::task::yield_now().await;
        ASYNC_DONE.fetch_add(ev.n, Ordering::SeqCst);
    }

    #[on(BusWait, group = "bus_wait")]
    async fn async_err(ev: &BusWait) -> Result<(), String> {
        tokio::task::yield_now().await;
        Err(format!("async says no to {}", ev.n))
    }

    #[on(BusWait, when = never, group = "bus_wait")]
    fn filtered_out(_: &BusWait) {}
}

#[tokio::test]
async fn emit_and_wait_counts_sync_and_async_handlers() {
    let bus = Bus::builder().group("bus_wait").build().unwrap();
    let delivery = bus.emit_and_wait(BusWait { n: 5 }).await;
    assert_eq!(delivery.handled, 2);
    assert_eq!(delivery.failed, 2);
    assert_eq!(delivery.filtered, 1);
    assert_eq!(delivery.expired, 0);
    assert_eq!(bus.get(delivery.id).unwrap().name(), "bus.wait");
    // The async handler has finished when emit_and_wait returns.
    assert_eq!(waiting::ASYNC_DONE.load(Ordering::SeqCst), 5);

    let mut letters: Vec<(String, String)> = bus
        .dead_letters()
        .iter()
        .map(|l| (l.handler().to_owned(), l.error().to_owned()))
        .collect();
    letters.sort();
    assert_eq!(
        letters,
        [
            (
                "test_bus::waiting::async_err".to_owned(),
                "async says no to 5".to_owned()
            ),
            (
                "test_bus::waiting::sync_err".to_owned(),
                "sync says no to 5".to_owned()
            ),
        ]
    );

    // A paused handler counts as filtered.
    bus.pause("test_bus::waiting::sync_ok").unwrap();
    bus.pause("test_bus::waiting::async_ok").unwrap();
    let delivery = bus
        .event(BusWait { n: 1 })
        .source("test")
        .emit_and_wait()
        .await;
    assert_eq!(
        (delivery.handled, delivery.failed, delivery.filtered),
        (0, 2, 3)
    );
    assert_eq!(waiting::ASYNC_DONE.load(Ordering::SeqCst), 5);

    // An expired event reaches no handler.
    bus.resume("test_bus::waiting::sync_ok").unwrap();
    let delivery = bus
        .event(BusWait { n: 2 })
        .ttl(Duration::ZERO)
        .emit_and_wait()
        .await;
    assert_eq!((delivery.handled, delivery.failed), (0, 0));
    assert_eq!(delivery.expired, 5);
    assert_eq!(bus.metrics().expired, 1);
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "bus.slow")]
pub struct BusSlow {
    pub n: u32,
}

mod slow {
    use super::*;

    pub static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();
    pub static ENTERED: AtomicU32 = AtomicU32::new(0);
    pub static DONE: AtomicU32 = AtomicU32::new(0);

    #[on(BusSlow, group = "bus_slow")]
    async fn gated(ev: &BusSlow) {
        let gate = GATE.notified();
        ENTERED.fetch_add(1, Ordering::SeqCst);
        gate.await;
        DONE.fetch_add(ev.n, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_handlers_never_block_emit_and_flush_waits_for_them() {
    let bus = Bus::builder().group("bus_slow").build().unwrap();
    // The handlers cannot finish before the gate opens, which happens after `emit`
    // returned: an `emit` that waited for them would never return.
    for n in 1..=3 {
        bus.emit(BusSlow { n });
    }
    assert_eq!(slow::DONE.load(Ordering::SeqCst), 0);
    while slow::ENTERED.load(Ordering::SeqCst) < 3 {
        tokio::task::yield_now().await;
    }
    slow::GATE.notify_waiters();
    bus.flush().await;
    assert_eq!(slow::DONE.load(Ordering::SeqCst), 6);
    assert_eq!(bus.metrics().delivered, 3);
    // Nothing in flight: flush returns at once.
    bus.flush().await;
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "bus.outside")]
pub struct BusOutside {
    pub n: u32,
}

mod outside {
    use super::*;

    pub static DONE: AtomicU32 = AtomicU32::new(0);

    #[on(BusOutside, group = "bus_outside")]
    async fn counted(ev: &BusOutside) {
        tokio::task::yield_now().await;
        DONE.fetch_add(ev.n, Ordering::SeqCst);
    }
}

#[test]
fn async_handlers_run_without_a_caller_runtime() {
    let bus = Bus::builder().group("bus_outside").build().unwrap();
    bus.emit(BusOutside { n: 4 });
    bus.emit(BusOutside { n: 5 });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(bus.flush());
    assert_eq!(outside::DONE.load(Ordering::SeqCst), 9);
    assert_eq!(bus.metrics().delivered, 2);
}

// ---- failure isolation and dead letters ----------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "bus.fragile")]
pub struct BusFragile {
    pub n: u32,
}

mod fragile {
    use super::*;

    pub static SYNC_SURVIVED: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    pub static ASYNC_SURVIVED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

    #[on(BusFragile, priority = 10, group = "bus_fragile")]
    fn sync_panics(ev: &BusFragile) {
        panic!("sync handler panicked on {}", ev.n);
    }

    #[on(BusFragile, priority = 9, group = "bus_fragile")]
    fn sync_errs(ev: &BusFragile) -> Result<(), String> {
        Err(format!("sync handler refused {}", ev.n))
    }

    #[on(BusFragile, priority = 1, group = "bus_fragile")]
    fn sync_survivor(ev: &BusFragile) {
        SYNC_SURVIVED.lock().unwrap().push(ev.n);
    }

    #[on(BusFragile, group = "bus_fragile")]
    async fn async_panics(ev: &BusFragile) {
        tokio::task::yield_now().await;
        panic!("async handler panicked on {}", ev.n);
    }

    #[on(BusFragile, group = "bus_fragile")]
    async fn async_errs(ev: &BusFragile) -> Result<(), String> {
        Err(format!("async handler refused {}", ev.n))
    }

    #[on(BusFragile, group = "bus_fragile")]
    async fn async_survivor(ev: &BusFragile) {
        tokio::task::yield_now().await;
        ASYNC_SURVIVED.lock().unwrap().push(ev.n);
    }
}

#[tokio::test]
async fn failing_handlers_are_isolated_and_dead_lettered() {
    let bus = Bus::builder().group("bus_fragile").build().unwrap();
    let first = bus.emit(BusFragile { n: 1 });
    let second = bus.emit(BusFragile { n: 2 });
    bus.flush().await;

    assert_eq!(*fragile::SYNC_SURVIVED.lock().unwrap(), [1, 2]);
    let mut survived = fragile::ASYNC_SURVIVED.lock().unwrap().clone();
    survived.sort_unstable();
    assert_eq!(survived, [1, 2]);

    let mut letters: Vec<(String, String, u32, Uuid)> = bus
        .dead_letters()
        .iter()
        .map(|l| {
            (
                l.handler().to_owned(),
                l.error().to_owned(),
                l.attempts(),
                l.record().id(),
            )
        })
        .collect();
    letters.sort();
    let expected = |n: u32, record: Uuid| {
        vec![
            (
                "test_bus::fragile::async_errs".to_owned(),
                format!("async handler refused {n}"),
                1,
                record,
            ),
            (
                "test_bus::fragile::async_panics".to_owned(),
                format!("panicked: async handler panicked on {n}"),
                1,
                record,
            ),
            (
                "test_bus::fragile::sync_errs".to_owned(),
                format!("sync handler refused {n}"),
                1,
                record,
            ),
            (
                "test_bus::fragile::sync_panics".to_owned(),
                format!("panicked: sync handler panicked on {n}"),
                1,
                record,
            ),
        ]
    };
    let mut all = expected(1, first);
    all.extend(expected(2, second));
    all.sort();
    assert_eq!(letters, all);

    for letter in bus.dead_letters() {
        assert_eq!(letter.record().name(), "bus.fragile");
    }
    let m = bus.metrics();
    assert_eq!(
        (m.emitted, m.delivered, m.failed, m.dead_lettered),
        (2, 4, 8, 8)
    );
    assert_eq!(m.handlers["test_bus::fragile::sync_panics"].failed, 2);
    assert_eq!(m.handlers["test_bus::fragile::sync_survivor"].delivered, 2);
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "bus.retry")]
pub struct BusRetry {
    pub n: u32,
}

mod retry {
    use super::*;

    pub static FAIL: AtomicBool = AtomicBool::new(true);
    pub static HANDLED: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[on(BusRetry, name = "bus.retry.flaky", group = "bus_retry")]
    fn flaky(ev: &BusRetry) -> Result<(), String> {
        if FAIL.load(Ordering::SeqCst) {
            return Err(format!("not yet ({})", ev.n));
        }
        HANDLED.lock().unwrap().push(format!("sync {}", ev.n));
        Ok(())
    }

    #[on(BusRetry, name = "bus.retry.flaky_async", group = "bus_retry")]
    async fn flaky_async(ev: &BusRetry) -> Result<(), String> {
        tokio::task::yield_now().await;
        if FAIL.load(Ordering::SeqCst) {
            return Err(format!("async not yet ({})", ev.n));
        }
        HANDLED.lock().unwrap().push(format!("async {}", ev.n));
        Ok(())
    }
}

#[tokio::test]
async fn dead_letters_can_be_retried_and_cleared() {
    let bus = Bus::builder().group("bus_retry").build().unwrap();
    let one = bus.emit(BusRetry { n: 1 });
    let two = bus.emit(BusRetry { n: 2 });
    bus.flush().await;
    let letters = bus.dead_letters();
    assert_eq!(letters.len(), 4);
    let find = |handler: &str, record: Uuid| {
        bus.dead_letters()
            .into_iter()
            .find(|l| l.handler() == handler && l.record().id() == record)
            .unwrap_or_else(|| panic!("no dead letter for {handler}"))
    };

    // Retrying while the handler still fails keeps the letter, one attempt more.
    let sync_one = find("bus.retry.flaky", one);
    let delivery = bus.retry_dead_letter(sync_one.id()).await.unwrap();
    assert_eq!((delivery.handled, delivery.failed), (0, 1));
    let again = find("bus.retry.flaky", one);
    assert_eq!(again.attempts(), 2);
    assert_eq!(again.error(), "not yet (1)");
    assert_eq!(bus.dead_letters().len(), 4);

    // Once it succeeds the letter is gone.
    retry::FAIL.store(false, Ordering::SeqCst);
    let delivery = bus.retry_dead_letter(again.id()).await.unwrap();
    assert_eq!((delivery.handled, delivery.failed), (1, 0));
    assert_eq!(delivery.id, one);
    let delivery = bus
        .retry_dead_letter(find("bus.retry.flaky_async", one).id())
        .await
        .unwrap();
    assert_eq!((delivery.handled, delivery.failed), (1, 0));
    assert_eq!(*retry::HANDLED.lock().unwrap(), ["sync 1", "async 1"]);
    assert_eq!(bus.dead_letters().len(), 2);
    assert!(bus.dead_letters().iter().all(|l| l.record().id() == two));

    // Clearing removes a letter once; unknown ids are errors.
    let sync_two = find("bus.retry.flaky", two);
    let cleared = bus.clear_dead_letter(sync_two.id()).unwrap();
    assert_eq!(cleared.record().id(), two);
    assert_eq!(cleared.handler(), "bus.retry.flaky");
    assert_eq!(bus.dead_letters().len(), 1);
    assert_eq!(
        bus.clear_dead_letter(sync_two.id()).unwrap_err(),
        BusError::UnknownDeadLetter(sync_two.id())
    );
    assert_eq!(
        bus.retry_dead_letter(sync_two.id()).await.unwrap_err(),
        BusError::UnknownDeadLetter(sync_two.id())
    );
    assert_eq!(*retry::HANDLED.lock().unwrap(), ["sync 1", "async 1"]);
}

// ---- metrics -------------------------------------------------------------------------

#[test]
fn metrics_count_what_was_delivered() {
    let bus = private_bus();
    let ok = bus.subscribe::<BusTick>(|_| {});
    let failing = bus
        .on::<BusTick>()
        .handle(|env| -> Result<(), String> { Err(format!("tick {}", env.payload().n)) });
    let _other = bus.subscribe::<BusTask>(|_| {});
    for n in 0..3 {
        bus.emit(BusTick { n });
    }
    bus.event(BusTick { n: 9 }).ttl(Duration::ZERO).emit();
    bus.emit(BusCommand { n: 1 });

    let m = bus.metrics();
    assert_eq!(m.emitted, 5);
    assert_eq!(m.delivered, 3);
    assert_eq!(m.failed, 3);
    assert_eq!(m.dead_lettered, 3);
    assert_eq!(m.expired, 1);
    assert_eq!(m.dropped, 0);
    let per_name: BTreeMap<&str, u64> = m
        .names
        .iter()
        .map(|(k, v)| (k.as_str(), v.emitted))
        .collect();
    assert_eq!(per_name.get("bus.tick"), Some(&4));
    assert_eq!(per_name.get("bus.command"), Some(&1));
    assert_eq!(
        (
            m.handlers[ok.name()].delivered,
            m.handlers[ok.name()].failed
        ),
        (3, 0)
    );
    assert_eq!(
        (
            m.handlers[failing.name()].delivered,
            m.handlers[failing.name()].failed
        ),
        (0, 3)
    );
    assert_eq!(bus.dead_letters().len(), 3);
    assert!(m.to_json().contains("\"dead_lettered\":3"));

    let infos = bus.subscriptions();
    let failing_info = infos.iter().find(|i| i.name == failing.name()).unwrap();
    assert_eq!((failing_info.delivered, failing_info.failed), (0, 3));
}

#[test]
fn evicted_dead_letters_are_counted_as_dropped() {
    let bus = Bus::builder()
        .registered_handlers(false)
        .dead_letters(1)
        .build()
        .unwrap();
    let _failing = bus
        .on::<BusTick>()
        .handle(|_| -> Result<(), String> { Err("no".to_owned()) });
    bus.emit(BusTick { n: 1 });
    let newest = bus.emit(BusTick { n: 2 });
    let letters = bus.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].record().id(), newest);
    let m = bus.metrics();
    assert_eq!((m.dead_lettered, m.dropped), (2, 1));
}

// ---- the current bus -----------------------------------------------------------------

#[test]
fn with_bus_routes_emit_to_the_given_bus() {
    let a = private_bus();
    let b = private_bus();
    let (in_a, in_b, back_in_a) = herald::with_bus(&a, || {
        let in_a = herald::emit(BusTick { n: 1 });
        let in_b = herald::with_bus(&b, || herald::emit(BusTick { n: 2 }));
        (in_a, in_b, herald::emit(BusTick { n: 3 }))
    });
    assert_eq!(ids(&a.history()), [in_a, back_in_a]);
    assert_eq!(ids(&b.history()), [in_b]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_routes_emit_to_the_given_bus_across_awaits_and_threads() {
    let a = private_bus();
    let b = private_bus();
    let task_bus = b.clone();
    let (first, second) = herald::scope(&a, async move {
        let first = herald::emit(BusTick { n: 1 });
        let second = tokio::spawn(herald::scope(&task_bus, async {
            tokio::task::yield_now().await;
            herald::emit(BusTick { n: 2 })
        }))
        .await
        .unwrap();
        tokio::task::yield_now().await;
        (first, second)
    })
    .await;
    let third = herald::scope(&a, async { herald::emit(BusTick { n: 3 }) }).await;
    assert_eq!(ids(&a.history()), [first, third]);
    assert_eq!(ids(&b.history()), [second]);
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "bus.global_ping")]
pub struct BusGlobalPing {
    pub n: u32,
}

static GLOBAL_SEEN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[on(BusGlobalPing)]
fn on_global_ping(ev: &BusGlobalPing) {
    GLOBAL_SEEN.lock().unwrap().push(ev.n);
}

#[test]
fn emit_outside_any_scope_goes_to_the_global_bus() {
    assert!(std::ptr::eq(herald::bus(), herald::bus()));
    let private = private_bus();
    let id = herald::emit(BusGlobalPing { n: 41 });
    let record = herald::bus().get(id).unwrap();
    assert_eq!(record.downcast_ref::<BusGlobalPing>().unwrap().n, 41);
    assert!(private.get(id).is_none());
    // The global bus has the registered handlers of group "default".
    assert_eq!(*GLOBAL_SEEN.lock().unwrap(), [41]);
    assert!(herald::bus()
        .subscriptions()
        .iter()
        .any(|s| s.name == "test_bus::on_global_ping"));

    // A private bus of another group does not run them.
    let other = Bus::builder().group("bus_not_default").build().unwrap();
    herald::with_bus(&other, || herald::emit(BusGlobalPing { n: 42 }));
    assert_eq!(*GLOBAL_SEEN.lock().unwrap(), [41]);
}
