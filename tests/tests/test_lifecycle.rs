//! Lifecycle edges: cancellation of dropped futures, panics in sync and async
//! instrumented code, durations on closing events; the context is restored every time.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use herald::prelude::*;
use herald::{Bus, Filter, Phase, Record, Uuid};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "lc.note")]
pub struct LcNote {
    pub step: u32,
}

fn private_bus() -> Bus {
    Bus::builder().registered_handlers(false).build().unwrap()
}

fn names(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.name()).collect()
}

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Asserts that `closing` closes `started`: same parent and root, caused by it, timed.
#[track_caller]
fn closes(closing: &Record, started: &Record, phase: Phase) {
    assert_eq!(closing.phase(), phase);
    assert_eq!(closing.parent_id(), started.parent_id());
    assert_eq!(closing.root_id(), started.root_id());
    assert_eq!(closing.correlation_id(), started.correlation_id());
    assert_eq!(closing.causation_id(), Some(started.id()));
    assert!(
        closing.duration().is_some(),
        "{} has a duration",
        closing.name()
    );
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => (*payload.downcast::<&str>().unwrap()).to_owned(),
    }
}

fn failed_error(r: &Record) -> &str {
    &r.downcast_ref::<herald::Failed>().unwrap().error
}

// ---- cancellation --------------------------------------------------------------------

#[instrument_events(name = "lc.waiting")]
async fn waiting(rx: oneshot::Receiver<()>) -> bool {
    herald::emit(LcNote { step: 1 });
    let got = rx.await.is_ok();
    herald::emit(LcNote { step: 2 });
    got
}

#[test]
fn dropping_a_pending_future_emits_exactly_one_cancelled() {
    let bus = private_bus();
    let (tx, rx) = oneshot::channel();
    herald::with_bus(&bus, || {
        let mut fut = Box::pin(waiting(rx));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(herald::current(), None);
        assert!(poll_once(fut.as_mut()).is_pending());
        drop(fut);
        assert_eq!(herald::current(), None);
    });
    drop(tx);
    let h = bus.history();
    assert_eq!(
        names(&h),
        ["lc.waiting.started", "lc.note", "lc.waiting.cancelled"]
    );
    closes(&h[2], &h[0], Phase::Cancelled);
    assert_eq!(
        h[2].downcast_ref::<herald::Cancelled>(),
        Some(&herald::Cancelled {
            operation: "lc.waiting".into()
        })
    );
    assert_eq!(bus.query(&Filter::new().phase(Phase::Cancelled)).len(), 1);
}

#[tokio::test]
async fn a_future_that_finishes_is_never_cancelled() {
    let bus = private_bus();
    let (tx, rx) = oneshot::channel();
    tx.send(()).unwrap();
    let mut fut = Box::pin(herald::scope(&bus, waiting(rx)));
    assert!(fut.as_mut().await);
    drop(fut);
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "lc.waiting.started",
            "lc.note",
            "lc.note",
            "lc.waiting.completed"
        ]
    );
    closes(&h[3], &h[0], Phase::Completed);
}

#[instrument_events(name = "lc.inner")]
async fn inner_wait(rx: oneshot::Receiver<()>) {
    let _ = rx.await;
}

#[instrument_events(name = "lc.outer")]
async fn outer_wait(rx: oneshot::Receiver<()>) {
    inner_wait(rx).await;
}

#[instrument_events(name = "lc.caller")]
async fn caller_that_gives_up(rx: oneshot::Receiver<()>) -> Option<Uuid> {
    tokio::select! {
        biased;
        () = outer_wait(rx) => unreachable!("the channel never fires"),
        () = tokio::task::yield_now() => {}
    }
    herald::current()
}

#[tokio::test]
async fn dropping_nested_calls_cancels_each_once_and_restores_the_caller() {
    let bus = private_bus();
    let (_tx, rx) = oneshot::channel();
    let after = herald::scope(&bus, caller_that_gives_up(rx)).await;
    assert_eq!(herald::current(), None);

    let h = bus.history();
    assert_eq!(h.len(), 6);
    let find = |name: &str| -> Record {
        let found = bus.query(&Filter::new().name(name));
        assert_eq!(found.len(), 1, "exactly one {name}");
        found[0].clone()
    };
    let caller = find("lc.caller.started");
    let outer = find("lc.outer.started");
    let inner = find("lc.inner.started");
    assert_eq!(after, Some(caller.id()));
    assert_eq!(outer.parent_id(), Some(caller.id()));
    assert_eq!(inner.parent_id(), Some(outer.id()));
    closes(&find("lc.outer.cancelled"), &outer, Phase::Cancelled);
    closes(&find("lc.inner.cancelled"), &inner, Phase::Cancelled);
    closes(&find("lc.caller.completed"), &caller, Phase::Completed);
    assert_eq!(h[5].name(), "lc.caller.completed");
    assert_eq!(bus.query(&Filter::new().phase(Phase::Cancelled)).len(), 2);
}

#[tokio::test]
async fn an_aborted_task_is_cancelled_once() {
    let bus = private_bus();
    let (_tx, rx) = oneshot::channel();
    let task = tokio::spawn(herald::scope(&bus, waiting(rx)));
    while bus.history().len() < 2 {
        tokio::task::yield_now().await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let h = bus.history();
    assert_eq!(
        names(&h),
        ["lc.waiting.started", "lc.note", "lc.waiting.cancelled"]
    );
    closes(&h[2], &h[0], Phase::Cancelled);
}

// ---- panics --------------------------------------------------------------------------

#[instrument_events(name = "lc.explode")]
fn explode(code: u32) -> u32 {
    if code > 0 {
        panic!("kaboom {code}");
    }
    code
}

#[instrument_events(name = "lc.survivor")]
fn survivor() -> [Option<Uuid>; 2] {
    let before = herald::current();
    let caught = catch_unwind(|| explode(3));
    assert_eq!(panic_message(caught.unwrap_err()), "kaboom 3");
    [before, herald::current()]
}

#[test]
fn a_sync_panic_emits_failed_and_restores_the_context() {
    let bus = private_bus();
    let caught = catch_unwind(AssertUnwindSafe(|| herald::with_bus(&bus, || explode(7))));
    assert_eq!(panic_message(caught.unwrap_err()), "kaboom 7");
    assert_eq!(herald::current(), None);

    let h = bus.history();
    assert_eq!(names(&h), ["lc.explode.started", "lc.explode.failed"]);
    closes(&h[1], &h[0], Phase::Failed);
    assert_eq!(failed_error(&h[1]), "panicked: kaboom 7");

    // The bus is restored too: this goes to the global bus, not the private one.
    let id = herald::emit(LcNote { step: 99 });
    assert!(bus.get(id).is_none());
    assert_eq!(bus.history().len(), 2);

    // The function still works afterwards.
    assert_eq!(herald::with_bus(&bus, || explode(0)), 0);
    assert_eq!(bus.history().len(), 4);
}

#[test]
fn a_caller_that_catches_a_callee_panic_keeps_its_context() {
    let bus = private_bus();
    let [before, after] = herald::with_bus(&bus, survivor);
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "lc.survivor.started",
            "lc.explode.started",
            "lc.explode.failed",
            "lc.survivor.completed"
        ]
    );
    assert_eq!(before, Some(h[0].id()));
    assert_eq!(after, Some(h[0].id()));
    closes(&h[2], &h[1], Phase::Failed);
    assert_eq!(h[2].parent_id(), Some(h[0].id()));
    assert_eq!(failed_error(&h[2]), "panicked: kaboom 3");
    closes(&h[3], &h[0], Phase::Completed);
}

#[instrument_events(name = "lc.explode_async")]
async fn explode_async(code: u32) -> u32 {
    tokio::task::yield_now().await;
    if code > 0 {
        panic!("async kaboom {code}");
    }
    code
}

#[instrument_events(name = "lc.async_survivor")]
async fn async_survivor() -> (Option<Uuid>, String, Option<Uuid>) {
    let before = herald::current();
    let joined = herald::spawn(explode_async(2)).await;
    let message = panic_message(joined.unwrap_err().into_panic());
    (before, message, herald::current())
}

#[tokio::test]
async fn an_async_panic_emits_failed_and_restores_the_context() {
    let bus = private_bus();
    let joined = tokio::spawn(herald::scope(&bus, explode_async(5))).await;
    let err = joined.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(panic_message(err.into_panic()), "async kaboom 5");
    // The panicking task ran on this thread; nothing of its context is left here.
    assert_eq!(herald::current(), None);

    let h = bus.history();
    assert_eq!(
        names(&h),
        ["lc.explode_async.started", "lc.explode_async.failed"]
    );
    closes(&h[1], &h[0], Phase::Failed);
    assert_eq!(failed_error(&h[1]), "panicked: async kaboom 5");
}

#[tokio::test]
async fn a_panicking_child_task_fails_under_its_parent() {
    let bus = private_bus();
    let (before, message, after) = herald::scope(&bus, async_survivor()).await;
    assert_eq!(message, "async kaboom 2");
    assert_eq!(herald::current(), None);
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "lc.async_survivor.started",
            "lc.explode_async.started",
            "lc.explode_async.failed",
            "lc.async_survivor.completed"
        ]
    );
    assert_eq!(before, Some(h[0].id()));
    assert_eq!(after, Some(h[0].id()));
    assert_eq!(h[1].parent_id(), Some(h[0].id()));
    closes(&h[2], &h[1], Phase::Failed);
    closes(&h[3], &h[0], Phase::Completed);
}

// ---- durations -----------------------------------------------------------------------

#[instrument_events(name = "lc.timed_ok")]
fn timed_ok() -> u32 {
    std::thread::sleep(std::time::Duration::from_millis(2));
    1
}

#[instrument_events(name = "lc.timed_err")]
fn timed_err() -> Result<(), String> {
    Err("nope".to_owned())
}

#[test]
fn durations_are_on_closing_events_only() {
    let bus = private_bus();
    let (_tx, rx) = oneshot::channel();
    herald::with_bus(&bus, || {
        assert_eq!(timed_ok(), 1);
        assert!(timed_err().is_err());
        let mut fut = Box::pin(waiting(rx));
        assert!(poll_once(fut.as_mut()).is_pending());
    });
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "lc.timed_ok.started",
            "lc.timed_ok.completed",
            "lc.timed_err.started",
            "lc.timed_err.failed",
            "lc.waiting.started",
            "lc.note",
            "lc.waiting.cancelled"
        ]
    );
    for r in &h {
        let closing = matches!(
            r.phase(),
            Phase::Completed | Phase::Failed | Phase::Cancelled
        );
        assert_eq!(r.duration().is_some(), closing, "{}", r.name());
    }
    // The sleeping body is inside the measured span.
    assert!(h[1].duration().unwrap() >= std::time::Duration::from_millis(2));
}
