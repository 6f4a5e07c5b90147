//! Children scopes: the parent's started and closing records, children nested under the
//! parent and running concurrently, failures (errors and panics) listed, the scope's
//! status while it runs, and `on_complete` firing exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald::error::BusError;
use herald::prelude::*;
use herald::{Bus, Phase, Record, ScopeStatus, Uuid};
use tokio::sync::oneshot;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "children_test.order")]
struct Order {
    id: u64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "children_test.step")]
struct Step {
    what: String,
}

#[instrument_events(name = "children_test.reserve")]
async fn reserve(item: u32) -> u32 {
    tokio::task::yield_now().await;
    item * 10
}

fn private_bus() -> Bus {
    Bus::builder().registered_handlers(false).build().unwrap()
}

fn step(what: &str) {
    herald::emit(Step {
        what: what.to_owned(),
    });
}

fn explode(message: &str) {
    panic!("{message}");
}

fn named<'a>(history: &'a [Record], name: &str) -> Vec<&'a Record> {
    history.iter().filter(|r| r.name() == name).collect()
}

/// Waits (without sleeping) until the scope's status satisfies `ready`.
async fn status_when(bus: &Bus, parent: Uuid, ready: impl Fn(&ScopeStatus) -> bool) -> ScopeStatus {
    loop {
        if let Some(status) = bus.scope_status(parent) {
            if ready(&status) {
                return status;
            }
        }
        tokio::task::yield_now().await;
    }
}

/// Guards a test against hanging; never asserts how long anything took.
async fn bounded<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("the scope finished")
}

#[tokio::test]
async fn a_scope_nests_its_children_under_the_parent_and_completes() {
    let bus = private_bus();
    let scope = bus.children(Order { id: 7 });
    let parent = scope.id();
    let values = scope
        .spawn(async {
            step("payment");
            Ok::<u32, String>(1)
        })
        .spawn(async { Ok::<u32, String>(reserve(2).await) })
        .spawn(async move {
            // The parent is the current parent inside a child.
            assert_eq!(herald::current(), Some(parent));
            step("shipping");
            Ok::<u32, String>(3)
        })
        .join()
        .await
        .expect("every child succeeded");
    assert_eq!(values, [1, 20, 3]);

    let history = bus.history();
    let started = bus.get(parent).expect("the parent record is kept");
    assert_eq!(started.name(), "children_test.order");
    assert_eq!(started.phase(), Phase::Started);
    assert_eq!(started.downcast_ref::<Order>().unwrap().id, 7);
    assert_eq!(started.parent_id(), None);
    assert!(
        Record::ptr_eq(&history[0], &started),
        "the parent comes first"
    );

    // The children's records and instrumented calls nest under the parent.
    let steps = named(&history, "children_test.step");
    assert_eq!(steps.len(), 2);
    let reserve_started = named(&history, "children_test.reserve.started");
    assert_eq!(reserve_started.len(), 1);
    for r in steps.iter().chain(&reserve_started) {
        assert_eq!(r.parent_id(), Some(parent), "parent of {}", r.name());
        assert_eq!(r.root_id(), parent, "root of {}", r.name());
        assert_eq!(r.correlation_id(), parent, "correlation of {}", r.name());
    }

    // The closing record comes last, caused by the parent, with a duration.
    let completed = history.last().unwrap();
    assert_eq!(completed.name(), "children_test.order.completed");
    assert_eq!(completed.phase(), Phase::Completed);
    assert!(completed.is::<herald::Completed>());
    assert_eq!(completed.causation_id(), Some(parent));
    assert_eq!(completed.parent_id(), None);
    assert_eq!(completed.root_id(), parent);
    assert!(completed.duration().is_some());
    assert!(named(&history, "children_test.order.failed").is_empty());

    let status = bus
        .scope_status(parent)
        .expect("a finished scope is remembered");
    assert_eq!(status.phase, Phase::Completed);
    assert_eq!(status.children.len(), 3);
    assert_eq!((status.pending, status.failed()), (0, 0));
    assert_eq!(status.closing, Some(completed.id()));
}

#[instrument_events(name = "children_test.checkout")]
async fn checkout(bus: Bus) -> Result<Vec<()>, herald::ChildrenError> {
    bus.children(Order { id: 1 })
        .spawn(async { step("inside") })
        .join()
        .await
}

#[tokio::test]
async fn a_scope_nests_under_the_call_that_joins_it() {
    let bus = private_bus();
    herald::scope(&bus, checkout(bus.clone()))
        .await
        .expect("the child succeeded");
    let history = bus.history();
    let call = named(&history, "children_test.checkout.started")[0];
    let parent = named(&history, "children_test.order")[0];
    let inside = named(&history, "children_test.step")[0];
    let closing = named(&history, "children_test.order.completed")[0];
    assert_eq!(parent.parent_id(), Some(call.id()));
    assert_eq!(inside.parent_id(), Some(parent.id()));
    assert_eq!(closing.parent_id(), Some(call.id()));
    assert_eq!(closing.causation_id(), Some(parent.id()));
    for r in [parent, inside, closing] {
        assert_eq!(r.root_id(), call.id(), "root of {}", r.name());
    }
}

#[tokio::test]
async fn children_run_concurrently() {
    // The first child can only finish once the second has run: run one after the
    // other, this scope would never end.
    let bus = private_bus();
    let (tx, rx) = oneshot::channel::<u32>();
    let values = bounded(
        bus.children(Order { id: 2 })
            .spawn(async move { rx.await.map_err(|e| e.to_string()) })
            .spawn(async move {
                tx.send(5).map_err(|_| "receiver gone".to_owned())?;
                Ok::<u32, String>(6)
            })
            .join(),
    )
    .await
    .unwrap();
    assert_eq!(values, [5, 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_children_are_listed_and_the_others_still_run() {
    let bus = private_bus();
    let ran = Arc::new(AtomicUsize::new(0));
    let mut scope = bus.children(Order { id: 3 });
    let parent = scope.id();
    let r = ran.clone();
    scope.push(async move {
        r.fetch_add(1, Ordering::SeqCst);
        Ok::<(), String>(())
    });
    let failing = scope.push(async { Err::<(), String>("out of stock".into()) });
    let panicking = scope.push(async { explode("card reader on fire") });
    let r = ran.clone();
    scope.push(async move {
        tokio::task::yield_now().await;
        step("after the failures");
        r.fetch_add(1, Ordering::SeqCst);
        Ok::<(), String>(())
    });

    let error = scope.join().await.expect_err("two children failed");
    assert_eq!(ran.load(Ordering::SeqCst), 2, "the other children ran");
    assert_eq!((error.parent, error.total), (parent, 4));
    let failures: Vec<(usize, Uuid, &str)> = error
        .failures
        .iter()
        .map(|f| (f.index, f.id, f.error.as_str()))
        .collect();
    assert_eq!(
        failures,
        [
            (1, failing, "out of stock"),
            (2, panicking, "panicked: card reader on fire"),
        ]
    );
    let text = error.to_string();
    assert_eq!(
        text,
        "2 of 4 children failed: child 1: out of stock; child 2: panicked: card reader on fire"
    );

    let history = bus.history();
    assert!(named(&history, "children_test.order.completed").is_empty());
    let failed = named(&history, "children_test.order.failed");
    assert_eq!(failed.len(), 1);
    let failed = failed[0];
    assert_eq!(failed.phase(), Phase::Failed);
    assert_eq!(failed.causation_id(), Some(parent));
    assert!(failed.duration().is_some());
    assert_eq!(failed.downcast_ref::<herald::Failed>().unwrap().error, text);
    assert_eq!(
        named(&history, "children_test.step")[0].parent_id(),
        Some(parent)
    );

    let status = bus.scope_status(parent).unwrap();
    assert_eq!(status.phase, Phase::Failed);
    assert_eq!(status.failures, error.failures);
    assert_eq!(status.closing, Some(failed.id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_shows_children_and_pending_count_while_running() {
    let bus = private_bus();
    let (release, held) = oneshot::channel::<()>();
    let mut scope = bus.children(Order { id: 4 });
    let parent = scope.id();

    let before = bus.scope_status(parent).unwrap();
    assert_eq!(before.phase, Phase::Pending);
    let quick = scope.push(async { Ok::<(), String>(()) });
    let slow = scope.push(async move { held.await.map_err(|e| e.to_string()) });
    let broken = scope.push(async { Err::<(), String>("no stock".into()) });
    let join = tokio::spawn(scope.join());

    let running = bounded(status_when(&bus, parent, |s| s.pending == 1)).await;
    assert_eq!(running.phase, Phase::Started);
    assert_eq!(running.children, [quick, slow, broken]);
    assert_eq!(running.failed(), 1);
    assert_eq!(running.failures[0].id, broken);
    assert_eq!(running.closing, None);
    assert!(!running.is_finished());
    // The parent record is in history while its children run.
    assert_eq!(bus.get(parent).unwrap().phase(), Phase::Started);

    release.send(()).unwrap();
    let error = bounded(join).await.unwrap().expect_err("one child failed");
    assert_eq!(error.failures.len(), 1);
    let done = bus.scope_status(parent).unwrap();
    assert_eq!(done.phase, Phase::Failed);
    assert_eq!(done.children, [quick, slow, broken]);
    assert_eq!((done.pending, done.failed()), (0, 1));
    assert!(done.is_finished());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_complete_fires_exactly_once_whenever_it_is_registered() {
    let bus = private_bus();
    let calls: Arc<Mutex<Vec<(&str, Phase)>>> = Arc::default();
    let register = |label: &'static str, parent: Uuid| {
        let calls = calls.clone();
        bus.on_complete(parent, move |s: &ScopeStatus| {
            calls.lock().unwrap().push((label, s.phase));
        })
    };

    let (release, held) = oneshot::channel::<()>();
    let scope = bus
        .children(Order { id: 5 })
        .spawn(async move { held.await.map_err(|e| e.to_string()) });
    let parent = scope.id();
    register("before start", parent).unwrap();
    let join = tokio::spawn(scope.join());
    bounded(status_when(&bus, parent, |s| s.phase == Phase::Started)).await;
    register("while running", parent).unwrap();
    assert!(calls.lock().unwrap().is_empty());

    release.send(()).unwrap();
    bounded(join).await.unwrap().unwrap();
    // Both callbacks ran before `join` returned.
    assert_eq!(
        *calls.lock().unwrap(),
        [
            ("before start", Phase::Completed),
            ("while running", Phase::Completed)
        ]
    );

    register("after", parent).unwrap();
    assert_eq!(calls.lock().unwrap().len(), 3);
    assert_eq!(calls.lock().unwrap()[2], ("after", Phase::Completed));

    // Nothing fires twice, whatever happens next.
    bus.children(Order { id: 6 })
        .spawn(async {})
        .join()
        .await
        .unwrap();
    assert_eq!(calls.lock().unwrap().len(), 3);

    assert_eq!(
        bus.on_complete(Uuid::nil(), |_| {}),
        Err(BusError::UnknownScope(Uuid::nil()))
    );
}

#[tokio::test]
async fn on_complete_sees_failures_and_a_panicking_callback_is_ignored() {
    let bus = private_bus();
    let seen = Arc::new(Mutex::new(None));
    let scope = bus
        .children(Order { id: 8 })
        .spawn(async { Err::<(), String>("declined".into()) });
    let parent = scope.id();
    bus.on_complete(parent, |_| panic!("a broken callback"))
        .unwrap();
    let s = seen.clone();
    bus.on_complete(parent, move |status| {
        *s.lock().unwrap() = Some(status.clone());
    })
    .unwrap();
    assert!(scope.join().await.is_err());
    let status = seen.lock().unwrap().take().expect("the callback ran");
    assert_eq!(status.phase, Phase::Failed);
    assert_eq!(status.failures[0].error, "declined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_running_scope_cancels_it() {
    let bus = private_bus();
    let phases = Arc::new(Mutex::new(Vec::new()));

    // Dropped before it started: no record, the callbacks still run once.
    let unstarted = bus.children::<_, ()>(Order { id: 9 });
    let p = phases.clone();
    bus.on_complete(unstarted.id(), move |s| p.lock().unwrap().push(s.phase))
        .unwrap();
    drop(unstarted);
    assert_eq!(*phases.lock().unwrap(), [Phase::Cancelled]);

    // Dropped while a child runs: the child is aborted and the parent cancelled.
    let (_keep, held) = oneshot::channel::<()>();
    let scope = bus
        .children(Order { id: 10 })
        .spawn(async move { held.await.map_err(|e| e.to_string()) });
    let parent = scope.id();
    let p = phases.clone();
    bus.on_complete(parent, move |s| p.lock().unwrap().push(s.phase))
        .unwrap();
    let join = tokio::spawn(scope.join());
    bounded(status_when(&bus, parent, |s| s.phase == Phase::Started)).await;
    join.abort();
    assert!(bounded(join).await.unwrap_err().is_cancelled());

    assert_eq!(
        *phases.lock().unwrap(),
        [Phase::Cancelled, Phase::Cancelled]
    );
    let history = bus.history();
    let cancelled = named(&history, "children_test.order.cancelled");
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].causation_id(), Some(parent));
    assert_eq!(bus.scope_status(parent).unwrap().phase, Phase::Cancelled);
}

#[tokio::test]
async fn finished_scopes_are_remembered_in_a_bounded_ring() {
    let bus = Bus::builder()
        .registered_handlers(false)
        .history(0)
        .build()
        .unwrap();
    let mut parents = Vec::new();
    for id in 0..herald::FINISHED_SCOPES as u64 + 3 {
        let scope = bus.children::<_, ()>(Order { id });
        parents.push(scope.id());
        scope.join().await.unwrap();
    }
    for gone in &parents[..3] {
        assert_eq!(bus.scope_status(*gone), None);
        assert_eq!(
            bus.on_complete(*gone, |_| {}),
            Err(BusError::UnknownScope(*gone))
        );
    }
    for kept in &parents[3..] {
        assert_eq!(bus.scope_status(*kept).unwrap().phase, Phase::Completed);
    }
}
