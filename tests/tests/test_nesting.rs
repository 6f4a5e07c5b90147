//! Instrumented calls nest: parent, root, correlation and causation links, sync and
//! async, under concurrency; operation names; recorded arguments and return values;
//! custom lifecycle events.

mod common;
use common::{args, started_args};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Barrier};

use herald::prelude::*;
use herald::{Bus, Phase, Record, Uuid};
use serde::{Deserialize, Serialize};

fn private_bus() -> Bus {
    Bus::builder().registered_handlers(false).build().unwrap()
}

fn names(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.name()).collect()
}

/// Asserts the four tree links of `r`.
#[track_caller]
fn links(r: &Record, parent: Option<&Record>, root: &Record, causation: Option<&Record>) {
    assert_eq!(
        r.parent_id(),
        parent.map(|r| r.id()),
        "parent of {}",
        r.name()
    );
    assert_eq!(r.root_id(), root.id(), "root of {}", r.name());
    assert_eq!(
        r.correlation_id(),
        root.correlation_id(),
        "correlation of {}",
        r.name()
    );
    assert_eq!(
        r.causation_id(),
        causation.map(|r| r.id()),
        "causation of {}",
        r.name()
    );
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "nest.note")]
pub struct NestNote {
    pub level: u32,
}

// ---- a 3-level chain, sync and async -------------------------------------------------

#[instrument_events]
fn chain_top() -> u32 {
    chain_mid() + 1
}

#[instrument_events]
fn chain_mid() -> u32 {
    chain_leaf() + 1
}

#[instrument_events]
fn chain_leaf() -> u32 {
    herald::emit(NestNote { level: 3 });
    1
}

#[instrument_events]
async fn async_chain_top() -> u32 {
    tokio::task::yield_now().await;
    let v = async_chain_mid().await;
    tokio::task::yield_now().await;
    v + 1
}

#[instrument_events]
async fn async_chain_mid() -> u32 {
    tokio::task::yield_now().await;
    async_chain_leaf().await + 1
}

#[instrument_events]
async fn async_chain_leaf() -> u32 {
    tokio::task::yield_now().await;
    herald::emit(NestNote { level: 3 });
    tokio::task::yield_now().await;
    1
}

fn check_chain(history: &[Record], prefix: &str) {
    let expected: Vec<String> = [
        "top.started",
        "mid.started",
        "leaf.started",
        "",
        "leaf.completed",
        "mid.completed",
        "top.completed",
    ]
    .iter()
    .map(|s| {
        if s.is_empty() {
            "nest.note".to_owned()
        } else {
            format!("{prefix}{s}")
        }
    })
    .collect();
    assert_eq!(names(history), expected);
    let [top_s, mid_s, leaf_s, note, leaf_c, mid_c, top_c] = history else {
        unreachable!()
    };
    assert_eq!(top_s.correlation_id(), top_s.id());
    links(top_s, None, top_s, None);
    links(mid_s, Some(top_s), top_s, Some(top_s));
    links(leaf_s, Some(mid_s), top_s, Some(mid_s));
    links(note, Some(leaf_s), top_s, Some(leaf_s));
    links(leaf_c, Some(mid_s), top_s, Some(leaf_s));
    links(mid_c, Some(top_s), top_s, Some(mid_s));
    links(top_c, None, top_s, Some(top_s));
    for r in [top_s, mid_s, leaf_s] {
        assert_eq!(r.phase(), Phase::Started);
        assert_eq!(r.duration(), None);
    }
    for r in [leaf_c, mid_c, top_c] {
        assert_eq!(r.phase(), Phase::Completed);
        assert!(r.duration().is_some());
    }
    assert_eq!(
        note.downcast_ref::<NestNote>(),
        Some(&NestNote { level: 3 })
    );
}

#[test]
fn three_level_sync_chain_links_exactly() {
    let bus = private_bus();
    assert_eq!(herald::with_bus(&bus, chain_top), 3);
    check_chain(&bus.history(), "chain_");
    let tree = bus.tree(bus.history()[0].id()).unwrap();
    assert_eq!(tree.len(), 7);
    assert_eq!(tree.depth(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_level_async_chain_links_exactly() {
    let bus = private_bus();
    assert_eq!(herald::scope(&bus, async_chain_top()).await, 3);
    check_chain(&bus.history(), "async_chain_");
}

// ---- failures: recovered and propagated ----------------------------------------------

#[instrument_events]
fn recover_callee() -> Result<u32, String> {
    Err("callee broke".to_owned())
}

#[instrument_events]
fn recover_caller() -> u32 {
    recover_callee().unwrap_or(7)
}

#[test]
fn a_recovered_callee_failure_leaves_the_caller_completed() {
    let bus = private_bus();
    assert_eq!(herald::with_bus(&bus, recover_caller), 7);
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "recover_caller.started",
            "recover_callee.started",
            "recover_callee.failed",
            "recover_caller.completed"
        ]
    );
    links(&h[2], Some(&h[0]), &h[0], Some(&h[1]));
    assert_eq!(h[2].phase(), Phase::Failed);
    assert_eq!(
        h[2].downcast_ref::<herald::Failed>(),
        Some(&herald::Failed {
            operation: "recover_callee".into(),
            error: "callee broke".to_owned()
        })
    );
    links(&h[3], None, &h[0], Some(&h[0]));
    assert_eq!(h[3].phase(), Phase::Completed);
}

#[derive(Clone, Debug, PartialEq)]
pub struct StockError {
    pub sku: u32,
}

impl fmt::Display for StockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sku {} out of stock", self.sku)
    }
}

impl std::error::Error for StockError {}

#[instrument_events]
fn reserve(sku: u32) -> Result<(), StockError> {
    Err(StockError { sku })
}

#[instrument_events]
fn pick(sku: u32) -> Result<(), StockError> {
    reserve(sku)?;
    Ok(())
}

#[instrument_events]
fn fulfil(sku: u32) -> Result<u32, StockError> {
    pick(sku)?;
    Ok(sku)
}

#[instrument_events]
async fn reserve_async(sku: u32) -> Result<(), StockError> {
    tokio::task::yield_now().await;
    Err(StockError { sku })
}

#[instrument_events]
async fn pick_async(sku: u32) -> Result<(), StockError> {
    reserve_async(sku).await?;
    Ok(())
}

#[instrument_events]
async fn fulfil_async(sku: u32) -> Result<u32, StockError> {
    pick_async(sku).await?;
    Ok(sku)
}

fn check_propagated(history: &[Record], suffix: &str) {
    let expected: Vec<String> = [
        "fulfil.started",
        "pick.started",
        "reserve.started",
        "reserve.failed",
        "pick.failed",
        "fulfil.failed",
    ]
    .iter()
    .map(|s| s.replacen('.', &format!("{suffix}."), 1))
    .collect();
    assert_eq!(names(history), expected);
    let [fulfil_s, pick_s, reserve_s, reserve_f, pick_f, fulfil_f] = history else {
        unreachable!()
    };
    links(reserve_f, Some(pick_s), fulfil_s, Some(reserve_s));
    links(pick_f, Some(fulfil_s), fulfil_s, Some(pick_s));
    links(fulfil_f, None, fulfil_s, Some(fulfil_s));
    for f in [reserve_f, pick_f, fulfil_f] {
        assert_eq!(f.phase(), Phase::Failed);
        assert_eq!(
            f.downcast_ref::<herald::Failed>().unwrap().error,
            "sku 9 out of stock"
        );
        assert!(f.duration().is_some());
    }
    assert!(history.iter().all(|r| r.phase() != Phase::Completed));
}

#[test]
fn a_propagated_error_fails_each_level_once_and_reaches_the_caller() {
    let bus = private_bus();
    assert_eq!(
        herald::with_bus(&bus, || fulfil(9)),
        Err(StockError { sku: 9 })
    );
    check_propagated(&bus.history(), "");
}

#[tokio::test]
async fn a_propagated_async_error_fails_each_level_once_and_reaches_the_caller() {
    let bus = private_bus();
    assert_eq!(
        herald::scope(&bus, fulfil_async(9)).await,
        Err(StockError { sku: 9 })
    );
    check_propagated(&bus.history(), "_async");
}

// ---- concurrency ---------------------------------------------------------------------

#[instrument_events(args)]
fn concurrent_root(worker: u32, barrier: Arc<Barrier>) -> u32 {
    barrier.wait();
    concurrent_child(worker);
    barrier.wait();
    worker
}

#[instrument_events(args)]
fn concurrent_child(worker: u32) {
    herald::emit(NestNote { level: worker });
}

#[test]
fn two_concurrent_roots_never_share_a_root() {
    let bus = private_bus();
    let barrier = Arc::new(Barrier::new(2));
    std::thread::scope(|s| {
        for worker in [1, 2] {
            let (bus, barrier) = (&bus, barrier.clone());
            s.spawn(move || herald::with_bus(bus, || concurrent_root(worker, barrier)));
        }
    });
    let history = bus.history();
    assert_eq!(history.len(), 10);
    let roots: Vec<&Record> = history
        .iter()
        .filter(|r| r.name() == "concurrent_root.started")
        .collect();
    assert_eq!(roots.len(), 2);
    assert_ne!(roots[0].root_id(), roots[1].root_id());
    assert_ne!(roots[0].correlation_id(), roots[1].correlation_id());
    for root in roots {
        let worker = started_args(root)[0].1.clone();
        let tree: Vec<Record> = history
            .iter()
            .filter(|r| r.root_id() == root.id())
            .cloned()
            .collect();
        assert_eq!(
            names(&tree),
            [
                "concurrent_root.started",
                "concurrent_child.started",
                "nest.note",
                "concurrent_child.completed",
                "concurrent_root.completed"
            ]
        );
        assert_eq!(started_args(&tree[1]), args(&[("worker", &worker)]));
        assert_eq!(
            tree[2]
                .downcast_ref::<NestNote>()
                .unwrap()
                .level
                .to_string(),
            worker
        );
        links(&tree[1], Some(root), root, Some(root));
        links(&tree[2], Some(&tree[1]), root, Some(&tree[1]));
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "nest.fan_note")]
pub struct FanNote {
    pub leaf: u32,
}

#[instrument_events]
async fn fan_out() -> u32 {
    let (a, b, c) = tokio::join!(fan_leaf(1), fan_leaf(2), fan_leaf(3));
    a + b + c
}

#[instrument_events(args)]
async fn fan_leaf(leaf: u32) -> u32 {
    tokio::task::yield_now().await;
    herald::emit(FanNote { leaf });
    tokio::task::yield_now().await;
    leaf
}

#[tokio::test]
async fn fan_out_under_join_nests_every_leaf_under_the_fanning_call() {
    let bus = private_bus();
    assert_eq!(herald::scope(&bus, fan_out()).await, 6);
    let history = bus.history();
    assert_eq!(history.len(), 11);
    let fan_s = &history[0];
    assert_eq!(fan_s.name(), "fan_out.started");
    let leaf_starts: HashMap<String, &Record> = history
        .iter()
        .filter(|r| r.name() == "fan_leaf.started")
        .map(|r| (started_args(r)[0].1.clone(), r))
        .collect();
    assert_eq!(leaf_starts.len(), 3);
    for leaf_s in leaf_starts.values() {
        links(leaf_s, Some(fan_s), fan_s, Some(fan_s));
    }
    let notes: Vec<&Record> = history
        .iter()
        .filter(|r| r.name() == "nest.fan_note")
        .collect();
    assert_eq!(notes.len(), 3);
    for note in notes {
        let leaf = note.downcast_ref::<FanNote>().unwrap().leaf.to_string();
        let leaf_s = leaf_starts[&leaf];
        links(note, Some(leaf_s), fan_s, Some(leaf_s));
    }
    let completions: Vec<&Record> = history
        .iter()
        .filter(|r| r.name() == "fan_leaf.completed")
        .collect();
    assert_eq!(completions.len(), 3);
    for c in completions {
        assert_eq!(c.parent_id(), Some(fan_s.id()));
        assert!(leaf_starts
            .values()
            .any(|s| Some(s.id()) == c.causation_id()));
    }
    assert_eq!(history[10].name(), "fan_out.completed");
    links(&history[10], None, fan_s, Some(fan_s));
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "nest.work_note")]
pub struct WorkNote {
    pub task: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "nest.step_note")]
pub struct StepNote {
    pub task: u32,
}

#[instrument_events(args)]
async fn interleaved_task(task: u32) {
    tokio::task::yield_now().await;
    interleaved_step(task).await;
    tokio::task::yield_now().await;
    herald::emit(WorkNote { task });
    tokio::task::yield_now().await;
}

#[instrument_events(args)]
async fn interleaved_step(task: u32) {
    tokio::task::yield_now().await;
    herald::emit(StepNote { task });
    tokio::task::yield_now().await;
}

#[test]
fn a_thousand_interleaved_tasks_on_one_thread_never_mix_their_trees() {
    const TASKS: u32 = 1_000;
    let bus = private_bus();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for task in 0..TASKS {
            set.spawn(herald::scope(&bus, interleaved_task(task)));
        }
        while let Some(done) = set.join_next().await {
            done.unwrap();
        }
    });
    assert_eq!(herald::current(), None);

    let history = bus.history();
    assert_eq!(history.len(), 6 * TASKS as usize);
    let by_id: HashMap<Uuid, &Record> = history.iter().map(|r| (r.id(), r)).collect();

    // The task number each record belongs to, read from its own payload or its started event.
    let task_of = |r: &Record| -> u32 {
        if let Some(note) = r.downcast_ref::<WorkNote>() {
            return note.task;
        }
        if let Some(note) = r.downcast_ref::<StepNote>() {
            return note.task;
        }
        let started = if r.phase() == Phase::Started {
            r
        } else {
            by_id[&r.causation_id().unwrap()]
        };
        started_args(started)[0].1.parse().unwrap()
    };

    let roots: Vec<&Record> = history
        .iter()
        .filter(|r| r.name() == "interleaved_task.started")
        .collect();
    assert_eq!(roots.len(), TASKS as usize);
    assert_eq!(
        roots.iter().map(|r| r.id()).collect::<HashSet<_>>().len(),
        TASKS as usize
    );

    let mut per_root: HashMap<Uuid, Vec<&Record>> = HashMap::new();
    for r in &history {
        per_root.entry(r.root_id()).or_default().push(r);
        let root = by_id[&r.root_id()];
        assert_eq!(
            task_of(r),
            task_of(root),
            "{} strayed into another tree",
            r.name()
        );
        if let Some(parent) = r.parent_id() {
            assert_eq!(task_of(by_id[&parent]), task_of(r));
        }
    }
    assert_eq!(per_root.len(), TASKS as usize);
    for (root_id, records) in per_root {
        let root = by_id[&root_id];
        let names: Vec<&str> = records.iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            [
                "interleaved_task.started",
                "interleaved_step.started",
                "nest.step_note",
                "interleaved_step.completed",
                "nest.work_note",
                "interleaved_task.completed"
            ]
        );
        links(records[1], Some(root), root, Some(root));
        links(records[2], Some(records[1]), root, Some(records[1]));
        links(records[4], Some(root), root, Some(root));
    }
}

// ---- the current parent and carrying it across tasks ---------------------------------

#[instrument_events]
fn current_outer() -> [Option<Uuid>; 3] {
    let before = herald::current();
    let inner = current_inner();
    [before, inner, herald::current()]
}

#[instrument_events]
fn current_inner() -> Option<Uuid> {
    herald::current()
}

#[instrument_events]
async fn current_async() -> [Option<Uuid>; 2] {
    let before = herald::current();
    tokio::task::yield_now().await;
    [before, herald::current()]
}

#[tokio::test]
async fn current_is_the_innermost_started_event() {
    let bus = private_bus();
    assert_eq!(herald::current(), None);
    let [before, inner, after] = herald::with_bus(&bus, current_outer);
    assert_eq!(herald::current(), None);
    let h = bus.history();
    assert_eq!(h[0].name(), "current_outer.started");
    assert_eq!(h[1].name(), "current_inner.started");
    assert_eq!(before, Some(h[0].id()));
    assert_eq!(inner, Some(h[1].id()));
    assert_eq!(after, Some(h[0].id()));

    let bus = private_bus();
    let [before, after] = herald::scope(&bus, current_async()).await;
    assert_eq!(herald::current(), None);
    let started = bus.history()[0].id();
    assert_eq!(before, Some(started));
    assert_eq!(after, Some(started));
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "nest.spawn_note")]
pub struct SpawnNote {
    pub via: String,
}

struct Spawned {
    herald_spawn: Option<Uuid>,
    in_current_context: Option<Uuid>,
    plain: Option<Uuid>,
    plain_note: Uuid,
}

#[instrument_events]
async fn spawner() -> Spawned {
    let herald_spawn = herald::spawn(async {
        tokio::task::yield_now().await;
        herald::emit(SpawnNote {
            via: "herald::spawn".to_owned(),
        });
        herald::current()
    })
    .await
    .unwrap();
    let in_current_context = tokio::spawn(
        async {
            tokio::task::yield_now().await;
            herald::emit(SpawnNote {
                via: "in_current_context".to_owned(),
            });
            herald::current()
        }
        .in_current_context(),
    )
    .await
    .unwrap();
    let (plain, plain_note) = tokio::spawn(async {
        tokio::task::yield_now().await;
        let id = herald::emit(SpawnNote {
            via: "plain".to_owned(),
        });
        (herald::current(), id)
    })
    .await
    .unwrap();
    Spawned {
        herald_spawn,
        in_current_context,
        plain,
        plain_note,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_carry_the_context_only_when_asked() {
    let bus = private_bus();
    let spawned = herald::scope(&bus, spawner()).await;
    let started = bus.query(&herald::Filter::new().name("spawner.started"))[0].clone();
    assert_eq!(spawned.herald_spawn, Some(started.id()));
    assert_eq!(spawned.in_current_context, Some(started.id()));
    assert_eq!(spawned.plain, None);

    let notes = bus.query(&herald::Filter::new().name("nest.spawn_note"));
    let vias: Vec<String> = notes
        .iter()
        .map(|r| r.downcast_ref::<SpawnNote>().unwrap().via.clone())
        .collect();
    assert_eq!(vias, ["herald::spawn", "in_current_context"]);
    for note in &notes {
        links(note, Some(&started), &started, Some(&started));
    }

    // The plain task saw neither the bus nor the parent: its event went to the global bus.
    assert!(bus.get(spawned.plain_note).is_none());
    let global = herald::bus().get(spawned.plain_note).unwrap();
    assert_eq!(global.parent_id(), None);
    assert_eq!(global.root_id(), spawned.plain_note);
}

// ---- a handler running inline nests under its event, inside the call ----------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "nest.trigger")]
pub struct NestTrigger;

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "nest.echo")]
pub struct NestEcho;

#[on(NestTrigger, group = "nest_inline")]
fn echo_inline(_: &NestTrigger) {
    herald::emit(NestEcho);
    handler_callee();
}

#[instrument_events]
fn handler_callee() {}

#[instrument_events]
fn trigger_op() -> Uuid {
    herald::emit(NestTrigger)
}

#[test]
fn events_from_an_inline_handler_nest_under_the_running_call() {
    let bus = Bus::builder().group("nest_inline").build().unwrap();
    let trigger_id = herald::with_bus(&bus, trigger_op);
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "trigger_op.started",
            "nest.trigger",
            "nest.echo",
            "handler_callee.started",
            "handler_callee.completed",
            "trigger_op.completed"
        ]
    );
    let started = &h[0];
    assert_eq!(h[1].id(), trigger_id);
    links(&h[1], Some(started), started, Some(started));
    // Emitted and called by the handler: nested under the trigger it handles, in the
    // call's tree.
    links(&h[2], Some(&h[1]), started, Some(&h[1]));
    links(&h[3], Some(&h[1]), started, Some(&h[1]));
    links(&h[4], Some(&h[1]), started, Some(&h[3]));
}

// ---- root ----------------------------------------------------------------------------

#[instrument_events(root)]
fn detached_job() -> Option<Uuid> {
    herald::current()
}

#[instrument_events]
fn root_caller() -> Option<Uuid> {
    detached_job()
}

#[test]
fn the_root_option_starts_a_new_tree() {
    let bus = private_bus();
    let inside = herald::with_bus(&bus, root_caller);
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "root_caller.started",
            "detached_job.started",
            "detached_job.completed",
            "root_caller.completed"
        ]
    );
    let (caller, job, job_done) = (&h[0], &h[1], &h[2]);
    assert_eq!(inside, Some(job.id()));
    assert_eq!(job.parent_id(), None);
    assert_eq!(job.root_id(), job.id());
    // A new tree, still the same causal chain.
    assert_eq!(job.correlation_id(), caller.correlation_id());
    assert_eq!(job_done.parent_id(), None);
    assert_eq!(job_done.root_id(), job.id());
    assert_eq!(job_done.causation_id(), Some(job.id()));
    assert_eq!(h[3].root_id(), caller.id());
    assert_eq!(bus.tree(caller.id()).unwrap().len(), 2);
    assert_eq!(bus.tree(job.id()).unwrap().len(), 2);
}
