//! The operation coordinator: resolution rules per target, priority inheritance, parent
//! cycles, retries with real backoff, cancellation, execution slots, concurrency across
//! targets, transition events and their nesting, metrics, health and recovery.
//!
//! Time-dependent tests run on paused tokio time: they assert behaviour and measured
//! waits on the tokio clock, never wall-clock timings.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald::ops::events::{
    OperationCancelled, OperationCompleted, OperationConflict, OperationFailed, OperationRejected,
    OperationRetry, OperationStarted,
};
use herald::ops::{
    Config, Coordinator, HealthStatus, OpError, OpHandle, OpId, Operation, Status, SubmitError,
    PREEMPTED,
};
use herald::prelude::*;
use herald::{Bus, Priority, Record, Uuid};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

const GRACE: Duration = Duration::from_millis(10);

fn private_bus() -> Bus {
    Bus::builder().registered_handlers(false).build().unwrap()
}

fn config() -> Config {
    Config {
        grace_period: GRACE,
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_secs(10),
        ..Config::default()
    }
}

fn setup() -> (Bus, Coordinator) {
    let bus = private_bus();
    let ops = Coordinator::new(&bus, config());
    (bus, ops)
}

/// Work that returns `value` at once.
fn ok<T: Clone + Send + 'static>(
    value: T,
) -> impl FnMut() -> std::future::Ready<Result<T, String>> + Send + 'static {
    move || std::future::ready(Ok(value.clone()))
}

/// Work that fails with `error` every time.
fn failing(
    error: &'static str,
) -> impl FnMut() -> std::future::Ready<Result<(), String>> + Send + 'static {
    move || std::future::ready(Err(error.to_owned()))
}

/// Holds executing work until opened.
#[derive(Clone, Default)]
struct Gate(Arc<Notify>);

type BoxedWork = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

impl Gate {
    /// Work that waits for the gate, then returns `Ok(())`.
    fn work(&self) -> impl FnMut() -> BoxedWork + Send + 'static {
        let gate = self.0.clone();
        move || {
            let gate = gate.clone();
            Box::pin(async move {
                gate.notified().await;
                Ok(())
            })
        }
    }

    /// Opens the gate (a permit is kept when the work is not waiting yet).
    fn open(&self) {
        self.0.notify_one();
    }
}

/// Lets every ready task run (paused time does not advance while we yield).
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

fn typed<E: herald::Event + Clone>(bus: &Bus) -> Vec<E> {
    bus.history()
        .iter()
        .filter_map(|r| r.downcast_ref::<E>().cloned())
        .collect()
}

fn named<'a>(records: &'a [Record], name: &str) -> Vec<&'a Record> {
    records.iter().filter(|r| r.name() == name).collect()
}

// ---- resolution --------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn four_pending_ops_give_one_winner_and_three_rejections() {
    let (_bus, ops) = setup();
    let target = Uuid::new_v4();
    let gate = Gate::default();
    let blocker = ops
        .submit(Operation::new("entity.lock", target), gate.work())
        .unwrap();
    assert_eq!(blocker.status(), Status::Executing);

    let contenders: Vec<OpHandle<i32>> = [2, 5, 8, 10]
        .into_iter()
        .map(|p| {
            ops.submit(
                Operation::new("entity.edit", target).with_priority(p),
                ok(p),
            )
            .unwrap()
        })
        .collect();
    assert!(contenders.iter().all(|h| h.status() == Status::Pending));

    tokio::time::sleep(GRACE * 2).await; // past their grace period
    gate.open();
    assert_eq!(blocker.await, Ok(()));

    let winner = contenders[3].id();
    let mut outcomes = Vec::new();
    for h in contenders {
        outcomes.push(h.await);
    }
    assert_eq!(
        outcomes,
        [
            Err(OpError::Rejected { by: winner }),
            Err(OpError::Rejected { by: winner }),
            Err(OpError::Rejected { by: winner }),
            Ok(10),
        ]
    );
    let m = ops.metrics();
    assert_eq!(
        (m.submitted, m.completed, m.rejected, m.conflicts),
        (5, 2, 3, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn equal_priorities_go_to_the_earliest() {
    let (_bus, ops) = setup();
    let target = Uuid::new_v4();
    let gate = Gate::default();
    let blocker = ops
        .submit(Operation::new("entity.lock", target), gate.work())
        .unwrap();
    let handles: Vec<OpHandle<usize>> = (0..3)
        .map(|i| {
            ops.submit(Operation::new("entity.edit", target), ok(i))
                .unwrap()
        })
        .collect();
    tokio::time::sleep(GRACE * 2).await;
    gate.open();
    blocker.await.unwrap();
    let first = handles[0].id();
    let mut outcomes = Vec::new();
    for h in handles {
        outcomes.push(h.await);
    }
    assert_eq!(
        outcomes,
        [
            Ok(0),
            Err(OpError::Rejected { by: first }),
            Err(OpError::Rejected { by: first })
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_executing_low_priority_op_survives_a_critical_newcomer() {
    let (_bus, ops) = setup();
    let target = Uuid::new_v4();
    let gate = Gate::default();
    let low = ops
        .submit(
            Operation::new("entity.version", target).with_priority(Priority::Low),
            gate.work(),
        )
        .unwrap();
    let critical = ops
        .submit(
            Operation::new("entity.move", target).with_priority(Priority::Critical),
            ok("moved"),
        )
        .unwrap();
    settle().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(low.status(), Status::Executing);
    assert_eq!(critical.status(), Status::Pending);
    assert_eq!(ops.metrics().executing_protections, 1);

    gate.open();
    assert_eq!(low.await, Ok(()));
    assert_eq!(critical.await, Ok("moved"));
    assert_eq!(ops.metrics().rejected, 0);
}

#[tokio::test(start_paused = true)]
async fn an_op_in_its_grace_period_is_spared_and_runs_next() {
    let (bus, ops) = setup();
    let target = Uuid::new_v4();
    let gate = Gate::default();
    let blocker = ops
        .submit(Operation::new("entity.lock", target), gate.work())
        .unwrap();
    let low = ops
        .submit(
            Operation::new("entity.edit", target).with_priority(Priority::Low),
            ok("low"),
        )
        .unwrap();
    let high_gate = Gate::default();
    let high = ops
        .submit(
            Operation::new("entity.edit", target).with_priority(Priority::High),
            high_gate.work(),
        )
        .unwrap();
    // The round runs while both are in their grace period: `high` wins, `low` waits.
    gate.open();
    blocker.await.unwrap();
    assert_eq!(high.status(), Status::Executing);
    assert_eq!(low.status(), Status::Pending);
    assert_eq!(ops.metrics().grace_period_saves, 1);
    let conflict = typed::<OperationConflict>(&bus);
    assert_eq!(conflict.len(), 1);
    assert_eq!(conflict[0].op_id, high.id());
    assert_eq!(
        (
            conflict[0].contenders,
            conflict[0].rejected.clone(),
            conflict[0].spared.clone()
        ),
        (2, vec![], vec![low.id()])
    );

    high_gate.open();
    assert_eq!(high.await, Ok(()));
    assert_eq!(low.await, Ok("low"));
}

#[tokio::test(start_paused = true)]
async fn an_op_past_its_grace_period_is_rejected() {
    let (_bus, ops) = setup();
    let target = Uuid::new_v4();
    let gate = Gate::default();
    let blocker = ops
        .submit(Operation::new("entity.lock", target), gate.work())
        .unwrap();
    let low = ops
        .submit(
            Operation::new("entity.edit", target).with_priority(Priority::Low),
            ok("low"),
        )
        .unwrap();
    tokio::time::sleep(GRACE * 2).await;
    let high = ops
        .submit(
            Operation::new("entity.edit", target).with_priority(Priority::High),
            ok("high"),
        )
        .unwrap();
    gate.open();
    blocker.await.unwrap();
    let high_id = high.id();
    assert_eq!(high.await, Ok("high"));
    assert_eq!(low.await, Err(OpError::Rejected { by: high_id }));
    assert_eq!(ops.metrics().grace_period_saves, 0);
}

#[tokio::test(start_paused = true)]
async fn a_child_inherits_its_parents_priority() {
    let (_bus, ops) = setup();
    let (elsewhere, target) = (Uuid::new_v4(), Uuid::new_v4());
    let parent_gate = Gate::default();
    let parent = ops
        .submit(
            Operation::new("entity.promote", elsewhere).with_priority(Priority::Critical),
            parent_gate.work(),
        )
        .unwrap();
    let gate = Gate::default();
    let blocker = ops
        .submit(Operation::new("entity.lock", target), gate.work())
        .unwrap();
    // The rival is submitted first and outranks the child's own priority.
    let rival = ops
        .submit(
            Operation::new("entity.edit", target).with_priority(Priority::High),
            ok("rival"),
        )
        .unwrap();
    let child = ops
        .submit(
            Operation::new("entity.version", target)
                .with_priority(Priority::Low)
                .with_parent(parent.id()),
            ok("child"),
        )
        .unwrap();
    assert_eq!(child.effective_priority(), Priority::Critical);
    assert_eq!(rival.effective_priority(), Priority::High);

    tokio::time::sleep(GRACE * 2).await;
    gate.open();
    blocker.await.unwrap();
    let child_id = child.id();
    assert_eq!(child.await, Ok("child"));
    assert_eq!(rival.await, Err(OpError::Rejected { by: child_id }));
    parent_gate.open();
    parent.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_parent_cycle_is_an_error_at_submit() {
    let (_bus, ops) = setup();
    let target = Uuid::new_v4();

    let mut own_parent = Operation::new("entity.edit", target);
    own_parent.parent = Some(own_parent.id);
    let id = own_parent.id;
    assert_eq!(
        ops.submit(own_parent, ok(())).unwrap_err(),
        SubmitError::ParentCycle {
            id,
            cycle: vec![id, id]
        }
    );

    // `b` names `a` before `a` exists; `a` then names `b`: a cycle.
    let a_id = OpId::generate();
    let gate = Gate::default();
    let b = Operation::new("entity.edit", target).with_parent(a_id);
    let b_id = b.id;
    let b_handle = ops.submit(b.clone(), gate.work()).unwrap();
    let mut a = Operation::new("entity.edit", target).with_parent(b_id);
    a.id = a_id;
    let err = ops.submit(a, ok(())).unwrap_err();
    assert_eq!(
        err,
        SubmitError::ParentCycle {
            id: a_id,
            cycle: vec![a_id, b_id, a_id]
        }
    );
    assert!(err.to_string().contains("form a cycle"), "{err}");
    assert_eq!(
        ops.submit(b, ok(())).unwrap_err(),
        SubmitError::DuplicateId(b_id)
    );
    assert_eq!(ops.metrics().submitted, 1);

    gate.open();
    b_handle.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn fifty_ops_with_five_executing_give_exactly_six_winners() {
    // Five operations execute on five targets and fill every execution slot. Fifty more
    // are submitted to a sixth, free target: with no slot they all wait. When one of the
    // five finishes, the sixth target runs one round: one winner, 49 rejections. Winners
    // in all: the five executing operations and that one.
    let bus = private_bus();
    let ops = Coordinator::new(
        &bus,
        Config {
            max_concurrent_executions: 5,
            ..config()
        },
    );
    let gates: Vec<Gate> = (0..5).map(|_| Gate::default()).collect();
    let running: Vec<OpHandle<()>> = gates
        .iter()
        .map(|g| {
            ops.submit(Operation::new("entity.version", Uuid::new_v4()), g.work())
                .unwrap()
        })
        .collect();
    assert!(running.iter().all(|h| h.status() == Status::Executing));
    assert_eq!(ops.metrics().executing, 5);

    let target = Uuid::new_v4();
    let contenders: Vec<OpHandle<usize>> = (0..50)
        .map(|i| {
            let op = Operation::new("entity.edit", target).with_priority((i % 10) as i32 + 1);
            ops.submit(op, ok(i)).unwrap()
        })
        .collect();
    settle().await;
    assert!(contenders.iter().all(|h| h.status() == Status::Pending));
    assert_eq!(ops.metrics().pending, 50);

    tokio::time::sleep(GRACE * 2).await;
    for gate in &gates {
        gate.open();
    }
    let mut winners = 0;
    for h in running {
        h.await.unwrap();
        winners += 1;
    }
    // Priority 10 first appears at i = 9: the earliest of the highest.
    let expected_winner = contenders[9].id();
    let mut rejected = 0;
    for (i, h) in contenders.into_iter().enumerate() {
        match h.await {
            Ok(v) => {
                assert_eq!(v, 9);
                winners += 1;
            }
            Err(OpError::Rejected { by }) => {
                assert_eq!(by, expected_winner, "contender {i}");
                rejected += 1;
            }
            Err(other) => panic!("contender {i}: {other}"),
        }
    }
    assert_eq!((winners, rejected), (6, 49));
    let m = ops.metrics();
    assert_eq!(
        (m.completed, m.rejected, m.conflicts, m.executing, m.pending),
        (6, 49, 1, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_targets_run_concurrently() {
    let bus = private_bus();
    let ops = Coordinator::new(&bus, Config::default());
    // Each operation finishes only once all three are executing at the same time.
    let barrier = Arc::new(tokio::sync::Barrier::new(3));
    let handles: Vec<OpHandle<()>> = (0..3)
        .map(|_| {
            let barrier = barrier.clone();
            let work = move || {
                let barrier = barrier.clone();
                async move {
                    barrier.wait().await;
                    Ok::<_, String>(())
                }
            };
            ops.submit(Operation::new("entity.version", Uuid::new_v4()), work)
                .unwrap()
        })
        .collect();
    for h in handles {
        let outcome = tokio::time::timeout(Duration::from_secs(30), h).await;
        assert_eq!(outcome, Ok(Ok(())), "the targets did not run concurrently");
    }
}

#[tokio::test]
async fn work_may_be_an_async_closure() {
    let (_bus, ops) = setup();
    let h = ops
        .submit(
            Operation::new("entity.version", Uuid::new_v4()),
            async || Ok::<_, String>(3),
        )
        .unwrap();
    assert_eq!(h.outcome().await, Ok(3));
}

// ---- retries -----------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn retries_wait_base_then_twice_base_and_reject_on_the_third_failure() {
    let (bus, ops) = setup();
    let base = ops.config().backoff_base;
    let calls = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let seen = calls.clone();
    let work = move || {
        seen.lock().unwrap().push(Instant::now());
        std::future::ready(Err::<(), _>("disk full"))
    };
    let mut h = ops
        .submit(
            Operation::new("entity.version", Uuid::new_v4()).with_max_retries(2),
            work,
        )
        .unwrap();
    settle().await;
    // The first attempt failed; the operation waits for its backoff.
    assert_eq!(
        (h.status(), h.attempts(), h.retry_count()),
        (Status::Failed, 1, 1)
    );

    let outcome = (&mut h).await;
    assert_eq!(
        outcome,
        Err(OpError::Failed {
            error: "disk full".to_owned(),
            retries: 2
        })
    );
    assert_eq!(outcome.unwrap_err().reason(), "max retries (2) exceeded");
    assert_eq!(
        (h.status(), h.attempts(), h.retry_count()),
        (Status::Rejected, 3, 2)
    );

    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3);
    let waits = [calls[1] - calls[0], calls[2] - calls[1]];
    // The timer rounds deadlines up to the millisecond.
    let tick = Duration::from_millis(1);
    for (n, wait) in waits.iter().enumerate() {
        let nominal = base * 2u32.pow(n as u32);
        assert!(
            *wait >= nominal.mul_f64(0.8) && *wait <= nominal.mul_f64(1.2) + tick,
            "wait {n} was {wait:?}, nominal {nominal:?}"
        );
    }

    let retries = typed::<OperationRetry>(&bus);
    assert_eq!(retries.len(), 2);
    for (n, r) in retries.iter().enumerate() {
        assert_eq!(
            (r.retry, r.max_retries, r.reason.as_ref()),
            (n as u32 + 1, 2, "attempt_failed")
        );
        assert_eq!(r.error.as_deref(), Some("disk full"));
        assert!(
            waits[n] >= r.delay && waits[n] <= r.delay + tick,
            "{:?} vs {:?}",
            waits[n],
            r.delay
        );
    }
    let failed = typed::<OperationFailed>(&bus);
    assert_eq!(
        failed
            .iter()
            .map(|f| (f.attempt, f.will_retry))
            .collect::<Vec<_>>(),
        [(1, true), (2, true), (3, false)]
    );
    let rejected = typed::<OperationRejected>(&bus);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].reason, "max retries (2) exceeded");
    assert_eq!(
        (rejected[0].retries, rejected[0].error.as_deref()),
        (2, Some("disk full"))
    );
    let m = ops.metrics();
    assert_eq!((m.failed, m.retried, m.rejected, m.completed), (3, 2, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_succeeds_and_a_panic_that_is_retried() {
    let (bus, ops) = setup();
    let calls = Arc::new(AtomicU32::new(0));
    let n = calls.clone();
    let work = move || {
        let call = n.fetch_add(1, Ordering::SeqCst);
        async move {
            match call {
                0 => Err("timeout".to_owned()),
                1 => panic!("boom"),
                _ => Ok(call),
            }
        }
    };
    let h = ops
        .submit(
            Operation::new("entity.borrow", Uuid::new_v4()).with_max_retries(3),
            work,
        )
        .unwrap();
    assert_eq!(h.await, Ok(2));
    let errors: Vec<String> = typed::<OperationFailed>(&bus)
        .into_iter()
        .map(|f| f.error)
        .collect();
    assert_eq!(errors, ["timeout", "panicked: boom"]);
    assert_eq!(typed::<OperationCompleted>(&bus).len(), 1);
    assert_eq!(
        typed::<OperationStarted>(&bus)
            .iter()
            .map(|s| s.attempt)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

// ---- cancellation ------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn cancelling_a_pending_op() {
    let (bus, ops) = setup();
    let target = Uuid::new_v4();
    let gate = Gate::default();
    let blocker = ops
        .submit(Operation::new("entity.lock", target), gate.work())
        .unwrap();
    let pending = ops
        .submit(Operation::new("entity.edit", target), ok(1))
        .unwrap();
    let next = ops
        .submit(Operation::new("entity.edit", target), ok(2))
        .unwrap();
    assert!(pending.cancel());
    assert_eq!(pending.status(), Status::Cancelled);
    assert!(!pending.cancel(), "a second cancel finds it ended");
    assert_eq!(pending.await, Err(OpError::Cancelled));

    gate.open();
    blocker.await.unwrap();
    assert_eq!(
        next.await,
        Ok(2),
        "the cancelled op took no part in the round"
    );
    let cancelled = typed::<OperationCancelled>(&bus);
    assert_eq!(cancelled.len(), 1);
    assert_eq!(
        (cancelled[0].during, cancelled[0].op_type.as_ref()),
        (Status::Pending, "entity.edit")
    );
    let m = ops.metrics();
    assert_eq!((m.cancelled, m.conflicts, m.pending), (1, 0, 0));
}

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn cancelling_an_executing_op_drops_its_work_and_frees_the_target() {
    let (bus, ops) = setup();
    let target = Uuid::new_v4();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let work = move || {
        let guard = DropFlag(flag.clone());
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok::<_, String>(())
        }
    };
    let stuck = ops
        .submit(Operation::new("entity.move", target), work)
        .unwrap();
    let next = ops
        .submit(Operation::new("entity.edit", target), ok("next"))
        .unwrap();
    settle().await;
    assert_eq!(stuck.status(), Status::Executing);
    assert!(!dropped.load(Ordering::SeqCst));

    assert!(stuck.cancel());
    assert_eq!(stuck.await, Err(OpError::Cancelled));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the work future was dropped"
    );
    assert_eq!(next.await, Ok("next"));

    let cancelled = typed::<OperationCancelled>(&bus);
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].during, Status::Executing);
    let history = bus.history();
    assert_eq!(named(&history, "operation.attempt.cancelled").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn cancelling_an_op_waiting_for_its_retry() {
    let (bus, ops) = setup();
    let h = ops
        .submit(
            Operation::new("entity.version", Uuid::new_v4()),
            failing("locked"),
        )
        .unwrap();
    settle().await;
    assert_eq!(h.status(), Status::Failed);
    assert!(h.cancel());
    let mut h = h;
    assert_eq!((&mut h).await, Err(OpError::Cancelled));
    assert_eq!((h.status(), h.attempts()), (Status::Cancelled, 1));
    assert_eq!(typed::<OperationCancelled>(&bus)[0].during, Status::Failed);
}

// ---- events ------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "test_ops.field_set")]
pub struct FieldSet {
    pub field: String,
}

#[instrument_events(name = "test_ops.request")]
fn handle_request(ops: &Coordinator, target: Uuid) -> OpHandle<u32> {
    let op = Operation::new("entity.modify", target).with_priority(Priority::High);
    ops.submit(op, move || async move {
        herald::emit(FieldSet {
            field: "title".to_owned(),
        });
        Ok::<_, String>(7)
    })
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn work_nests_under_operation_started_which_nests_under_the_submitter() {
    let (bus, ops) = setup();
    let target = Uuid::new_v4();
    let h = herald::with_bus(&bus, || handle_request(&ops, target));
    let id = h.id();
    assert_eq!(h.await, Ok(7));

    let history = bus.history();
    let names: Vec<&str> = history.iter().map(|r| r.name()).collect();
    assert_eq!(
        names,
        [
            "test_ops.request.started",
            "test_ops.request.completed",
            "operation.started",
            "test_ops.field_set",
            "operation.completed"
        ]
    );
    let (request, started, note, completed) = (&history[0], &history[2], &history[3], &history[4]);
    assert_eq!(
        started.parent_id(),
        Some(request.id()),
        "the operation nests under the submitter"
    );
    assert_eq!(started.root_id(), request.id());
    assert_eq!(
        note.parent_id(),
        Some(started.id()),
        "the work nests under operation.started"
    );
    assert_eq!(completed.parent_id(), started.parent_id());
    assert_eq!(completed.causation_id(), Some(started.id()));
    assert!(completed.duration().is_some());

    let s = started.downcast_ref::<OperationStarted>().unwrap();
    assert_eq!(
        (
            s.op_id,
            s.op_type.as_ref(),
            s.target,
            s.priority,
            s.effective_priority,
            s.attempt
        ),
        (
            id,
            "entity.modify",
            target,
            Priority::High,
            Priority::High,
            1
        )
    );
    let c = completed.downcast_ref::<OperationCompleted>().unwrap();
    assert_eq!((c.op_id, c.target, c.attempt), (id, target, 1));
}

#[tokio::test(start_paused = true)]
async fn every_transition_emits_its_typed_event() {
    let (bus, ops) = setup();
    let target = Uuid::new_v4();
    let gate = Gate::default();
    let blocker = ops
        .submit(Operation::new("entity.lock", target), gate.work())
        .unwrap();
    let loser = ops
        .submit(
            Operation::new("entity.edit", target).with_priority(Priority::Low),
            ok(()),
        )
        .unwrap();
    let winner = ops
        .submit(
            Operation::new("entity.edit", target).with_priority(Priority::Critical),
            ok(()),
        )
        .unwrap();
    let cancelled = ops
        .submit(Operation::new("entity.edit", target), ok(()))
        .unwrap();
    let flaky_calls = Arc::new(AtomicU32::new(0));
    let calls = flaky_calls.clone();
    let flaky = ops
        .submit(
            Operation::new("entity.borrow", Uuid::new_v4()).with_max_retries(1),
            move || {
                let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
                std::future::ready(if first { Err("busy") } else { Ok(()) })
            },
        )
        .unwrap();
    let (loser_id, winner_id, cancelled_id, flaky_id) =
        (loser.id(), winner.id(), cancelled.id(), flaky.id());
    cancelled.cancel();
    tokio::time::sleep(GRACE * 2).await;
    gate.open();
    blocker.await.unwrap();
    winner.await.unwrap();
    assert!(loser.await.is_err());
    flaky.await.unwrap();

    let started = typed::<OperationStarted>(&bus);
    let mut started_ids: Vec<OpId> = started.iter().map(|s| s.op_id).collect();
    started_ids.sort();
    let mut expected = vec![
        blocker_id(&started, "entity.lock"),
        winner_id,
        flaky_id,
        flaky_id,
    ];
    expected.sort();
    assert_eq!(started_ids, expected);

    let completed: Vec<OpId> = typed::<OperationCompleted>(&bus)
        .iter()
        .map(|c| c.op_id)
        .collect();
    assert_eq!(completed.len(), 3);
    assert!(completed.contains(&winner_id) && completed.contains(&flaky_id));

    let failed = typed::<OperationFailed>(&bus);
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (
            failed[0].op_id,
            failed[0].op_type.as_ref(),
            failed[0].error.as_str()
        ),
        (flaky_id, "entity.borrow", "busy")
    );
    let retry = typed::<OperationRetry>(&bus);
    assert_eq!(retry.len(), 1);
    assert_eq!((retry[0].op_id, retry[0].retry), (flaky_id, 1));

    let conflict = typed::<OperationConflict>(&bus);
    assert_eq!(conflict.len(), 1);
    let c = &conflict[0];
    assert_eq!(
        (c.op_id, c.target, c.priority, c.contenders),
        (winner_id, target, Priority::Critical, 2)
    );
    assert_eq!(c.rejected, [loser_id]);

    let rejected = typed::<OperationRejected>(&bus);
    assert_eq!(rejected.len(), 1);
    let r = &rejected[0];
    assert_eq!(
        (
            r.op_id,
            r.op_type.as_ref(),
            r.target,
            r.priority,
            r.reason.as_ref(),
            r.preempted_by
        ),
        (
            loser_id,
            "entity.edit",
            target,
            Priority::Low,
            PREEMPTED,
            Some(winner_id)
        )
    );

    let cancel = typed::<OperationCancelled>(&bus);
    assert_eq!(cancel.len(), 1);
    assert_eq!(
        (cancel[0].op_id, cancel[0].target, cancel[0].during),
        (cancelled_id, target, Status::Pending)
    );
}

fn blocker_id(started: &[OperationStarted], op_type: &str) -> OpId {
    started.iter().find(|s| s.op_type == op_type).unwrap().op_id
}

// ---- metrics, health, recovery -----------------------------------------------------

#[tokio::test(start_paused = true)]
async fn metrics_count_what_happened() {
    let (_bus, ops) = setup();
    let target = Uuid::new_v4();
    let gate = Gate::default();
    let blocker = ops
        .submit(Operation::new("entity.lock", target), gate.work())
        .unwrap();
    let losers: Vec<OpHandle<()>> = (0..2)
        .map(|_| {
            ops.submit(Operation::new("entity.edit", target), ok(()))
                .unwrap()
        })
        .collect();
    let winner = ops
        .submit(
            Operation::new("entity.edit", target).with_priority(Priority::High),
            ok(()),
        )
        .unwrap();
    let cancelled = ops
        .submit(Operation::new("entity.edit", target), ok(()))
        .unwrap();
    cancelled.cancel();
    let doomed = ops
        .submit(
            Operation::new("entity.borrow", Uuid::new_v4()).with_max_retries(1),
            failing("gone"),
        )
        .unwrap();
    tokio::time::sleep(GRACE * 2).await;
    gate.open();
    blocker.await.unwrap();
    winner.await.unwrap();
    for l in losers {
        assert!(l.await.is_err());
    }
    assert!(doomed.await.is_err());

    let m = ops.metrics();
    assert_eq!(m.submitted, 6);
    assert_eq!(m.completed, 2);
    assert_eq!(m.rejected, 3, "two preempted, one out of retries");
    assert_eq!(m.failed, 2);
    assert_eq!(m.retried, 1);
    assert_eq!(m.cancelled, 1);
    assert_eq!(m.conflicts, 1);
    assert_eq!((m.executing, m.pending), (0, 0));
    assert!(m.resolution.count >= 4, "{:?}", m.resolution);
    assert!(m.resolution.p50 <= m.resolution.p99 && m.resolution.p99 <= m.resolution.max);
}

#[tokio::test(start_paused = true)]
async fn recover_returns_a_stuck_execution_to_pending() {
    let bus = private_bus();
    let ops = Coordinator::new(
        &bus,
        Config {
            stuck_after: Duration::from_secs(5),
            ..config()
        },
    );
    let calls = Arc::new(AtomicU32::new(0));
    let n = calls.clone();
    let work = move || {
        let first = n.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                std::future::pending::<()>().await;
            }
            Ok::<_, String>("done")
        }
    };
    let mut h = ops
        .submit(Operation::new("entity.version", Uuid::new_v4()), work)
        .unwrap();
    settle().await;
    assert!(ops.health().is_healthy());
    assert!(ops.recover().is_empty(), "not stuck yet");

    tokio::time::sleep(Duration::from_secs(6)).await;
    let health = ops.health();
    assert_eq!(health.status, HealthStatus::Degraded);
    assert_eq!(health.stuck, [h.id()]);
    assert!(
        health.reasons[0].contains("running longer than"),
        "{health}"
    );

    assert_eq!(ops.recover(), [h.id()]);
    assert_eq!((&mut h).await, Ok("done"));
    assert_eq!((h.attempts(), h.retry_count()), (2, 0));
    assert_eq!(ops.metrics().recovered, 1);
    assert!(ops.health().is_healthy());
    let retry = typed::<OperationRetry>(&bus);
    assert_eq!((retry.len(), retry[0].reason.as_ref()), (1, "recovered"));
}

#[tokio::test(start_paused = true)]
async fn health_reports_queue_depth() {
    let bus = private_bus();
    let ops = Coordinator::new(
        &bus,
        Config {
            max_queue_depth: 2,
            ..config()
        },
    );
    let target = Uuid::new_v4();
    let gate = Gate::default();
    let blocker = ops
        .submit(Operation::new("entity.lock", target), gate.work())
        .unwrap();
    let queued: Vec<OpHandle<()>> = (0..3)
        .map(|_| {
            ops.submit(Operation::new("entity.edit", target), ok(()))
                .unwrap()
        })
        .collect();
    let health = ops.health();
    assert_eq!(
        (health.status, health.executing, health.pending),
        (HealthStatus::Degraded, 1, 3)
    );
    assert_eq!(health.reasons, ["queue depth 3 exceeds 2"]);
    for q in &queued {
        q.cancel();
    }
    assert!(ops.health().is_healthy());
    gate.open();
    blocker.await.unwrap();
}
