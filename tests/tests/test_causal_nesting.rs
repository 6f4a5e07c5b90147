//! Work a handler causes nests under the event it handles: what it emits, the
//! instrumented calls it makes and the tasks it spawns, sync and async, on every
//! attempt, for local and remote records; so `bus.tree(root)` holds the whole cascade.

use std::sync::atomic::{AtomicU32, Ordering};

use herald::prelude::*;
use herald::transport::InMemory;
use herald::{Bus, Record, Uuid};
use serde::{Deserialize, Serialize};

fn names(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.name()).collect()
}

/// The record named `name` in `records`.
#[track_caller]
fn named<'a>(records: &'a [Record], name: &str) -> &'a Record {
    records
        .iter()
        .find(|r| r.name() == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", names(records)))
}

/// Asserts that `r` nests directly under `handled`: its parent and cause, in its tree.
#[track_caller]
fn under(r: &Record, handled: &Record) {
    assert_eq!(r.parent_id(), Some(handled.id()), "parent of {}", r.name());
    assert_eq!(
        r.causation_id(),
        Some(handled.id()),
        "cause of {}",
        r.name()
    );
    assert_eq!(r.root_id(), handled.root_id(), "root of {}", r.name());
    assert_eq!(
        r.correlation_id(),
        handled.correlation_id(),
        "correlation of {}",
        r.name()
    );
}

/// Asserts that no handler of `bus` failed for good.
#[track_caller]
fn no_failures(bus: &Bus) {
    let m = bus.metrics();
    assert_eq!((m.dead_lettered, bus.dead_letters().len()), (0, 0));
}

// ---- a sync handler of a root event ------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "causal.order_placed")]
pub struct OrderPlaced {
    pub order: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "causal.receipt_sent")]
pub struct ReceiptSent {
    pub order: u32,
}

#[instrument_events(name = "causal.reserve_stock")]
fn reserve_stock(order: u32) -> u32 {
    order
}

static SYNC_RUNS: AtomicU32 = AtomicU32::new(0);

#[on(OrderPlaced, group = "causal_sync")]
fn on_order_placed(ev: &OrderPlaced) {
    herald::emit(ReceiptSent { order: ev.order });
    reserve_stock(ev.order);
    SYNC_RUNS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn what_a_sync_handler_emits_and_calls_lands_under_the_root_it_handles() {
    let bus = Bus::builder().group("causal_sync").build().unwrap();
    let root = bus.emit(OrderPlaced { order: 1 });
    assert_eq!(SYNC_RUNS.load(Ordering::SeqCst), 1, "the handler ran");
    no_failures(&bus);

    let tree = bus.tree(root).expect("the root's tree");
    let records = tree.records();
    assert_eq!(
        names(&records),
        [
            "causal.order_placed",
            "causal.receipt_sent",
            "causal.reserve_stock.started",
            "causal.reserve_stock.completed",
        ]
    );
    let placed = named(&records, "causal.order_placed");
    assert_eq!(placed.parent_id(), None, "the handled event stays a root");
    under(named(&records, "causal.receipt_sent"), placed);
    let started = named(&records, "causal.reserve_stock.started");
    under(started, placed);
    // The closing record sits beside its started record, caused by it.
    let completed = named(&records, "causal.reserve_stock.completed");
    assert_eq!(completed.parent_id(), Some(placed.id()));
    assert_eq!(completed.causation_id(), Some(started.id()));
    // Three direct children: nothing the handler did is a root of its own.
    assert_eq!(tree.children().len(), 3);
    assert_eq!(bus.history().len(), 4);
}

// ---- an async handler that emits, calls and spawns ---------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "causal.job_queued")]
pub struct JobQueued {
    pub job: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "causal.job_note")]
pub struct JobNote {
    pub from: String,
}

#[instrument_events(name = "causal.run_job")]
async fn run_job(job: u32) -> u32 {
    tokio::task::yield_now().await;
    job
}

static ASYNC_RUNS: AtomicU32 = AtomicU32::new(0);

#[on(JobQueued, group = "causal_async")]
async fn on_job_queued(ev: &JobQueued) {
    herald::emit(JobNote {
        from: "handler".into(),
    });
    run_job(ev.job).await;
    let child = herald::spawn(async {
        tokio::task::yield_now().await;
        herald::emit(JobNote {
            from: "spawned".into(),
        })
    });
    child.await.expect("the spawned task finishes");
    ASYNC_RUNS.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_async_handler_emits_calls_and_spawns_lands_under_its_event() {
    let bus = Bus::builder().group("causal_async").build().unwrap();
    let root = bus.emit(JobQueued { job: 9 });
    bus.flush().await;
    assert_eq!(ASYNC_RUNS.load(Ordering::SeqCst), 1, "the handler ran");
    no_failures(&bus);

    let records = bus.tree(root).expect("the root's tree").records();
    assert_eq!(records.len(), 5, "{:?}", names(&records));
    let queued = named(&records, "causal.job_queued");
    for note in records.iter().filter(|r| r.name() == "causal.job_note") {
        under(note, queued);
    }
    let froms: Vec<String> = records
        .iter()
        .filter_map(|r| r.downcast_ref::<JobNote>())
        .map(|n| n.from.clone())
        .collect();
    assert_eq!(froms.len(), 2);
    assert!(froms.contains(&"handler".to_owned()) && froms.contains(&"spawned".to_owned()));
    under(named(&records, "causal.run_job.started"), queued);
    assert_eq!(
        named(&records, "causal.run_job.completed").parent_id(),
        Some(queued.id())
    );
}

// ---- retries: every attempt nests under the handled event --------------------------

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "causal.flaky")]
pub struct Flaky;

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "causal.attempt")]
pub struct Attempt {
    pub n: u32,
}

static SYNC_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[on(Flaky, group = "causal_retry_sync", retry = 2, backoff = "1ms")]
fn flaky_sync(_: &Flaky) -> Result<(), String> {
    let n = SYNC_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    herald::emit(Attempt { n });
    match n {
        0 => panic!("the first attempt panics"),
        1 => Err("the second attempt errs".into()),
        _ => Ok(()),
    }
}

static ASYNC_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[on(Flaky, group = "causal_retry_async", retry = 1, backoff = "1ms")]
async fn flaky_async(_: &Flaky) -> Result<(), String> {
    let n = ASYNC_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    herald::emit(Attempt { n });
    if n == 0 {
        Err("the first attempt errs".into())
    } else {
        Ok(())
    }
}

/// Emits a root `Flaky` on a bus of `group`, waits, and checks that each of the
/// `attempts` attempts emitted an `Attempt` nested under it.
async fn every_attempt_nests(group: &str, attempts: usize) {
    let bus = Bus::builder().group(group).build().unwrap();
    let root = bus.emit(Flaky);
    bus.flush().await;
    no_failures(&bus);
    let m = bus.metrics();
    assert_eq!(m.delivered, 1, "the last attempt succeeded");
    assert_eq!(m.failed as usize, attempts - 1);

    let records = bus.tree(root).expect("the root's tree").records();
    let flaky = named(&records, "causal.flaky");
    let emitted: Vec<&Record> = records
        .iter()
        .filter(|r| r.name() == "causal.attempt")
        .collect();
    assert_eq!(emitted.len(), attempts, "{:?}", names(&records));
    for r in emitted {
        under(r, flaky);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_sync_handler_nests_every_attempt() {
    every_attempt_nests("causal_retry_sync", 3).await;
    assert_eq!(SYNC_ATTEMPTS.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_async_handler_nests_every_attempt() {
    every_attempt_nests("causal_retry_async", 2).await;
    assert_eq!(ASYNC_ATTEMPTS.load(Ordering::SeqCst), 2);
}

// ---- nested handlers: a cascade is one tree ----------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "causal.step")]
pub struct Step {
    pub left: u32,
}

#[test]
fn a_cascade_of_handlers_is_one_tree_as_deep_as_the_cascade() {
    let bus = Bus::builder().registered_handlers(false).build().unwrap();
    let _next = bus.subscribe::<Step>(|ev| {
        let left = ev.payload().left;
        if left > 0 {
            herald::emit(Step { left: left - 1 });
        }
    });
    let root = bus.emit(Step { left: 4 });
    let tree = bus.tree(root).expect("the root's tree");
    assert_eq!(tree.len(), 5);
    assert_eq!(tree.depth(), 5);
    let records = bus.history();
    for pair in records.windows(2) {
        under(&pair[1], &pair[0]);
    }
}

// ---- a remote record -----------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "causal.remote_ping")]
pub struct RemotePing;

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "causal.remote_pong")]
pub struct RemotePong;

#[tokio::test]
async fn a_handler_of_a_remote_record_nests_under_it_on_both_sides() {
    let link = InMemory::new();
    let linked = || {
        Bus::builder()
            .registered_handlers(false)
            .transport(link.clone())
            .build()
            .unwrap()
    };
    let (a, b) = (linked(), linked());
    let _answer = b.subscribe::<RemotePing>(|_| {
        herald::emit(RemotePong);
    });
    let ping: Uuid = a.emit(RemotePing);
    link.settle().await;

    for bus in [&a, &b] {
        let records = bus.tree(ping).expect("the ping's tree").records();
        assert_eq!(
            names(&records),
            ["causal.remote_ping", "causal.remote_pong"]
        );
        under(&records[1], &records[0]);
    }
}
