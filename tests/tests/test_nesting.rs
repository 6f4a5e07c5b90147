//! Instrumented calls nest: parent, root, correlation and causation links, sync and
//! async, under concurrency; operation names; recorded arguments and return values;
//! custom lifecycle events.

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
    assert_eq!(r.parent_id(), parent.map(|r| r.id()), "parent of {}", r.name());
    assert_eq!(r.root_id(), root.id(), "root of {}", r.name());
    assert_eq!(r.correlation_id(), root.correlation_id(), "correlation of {}", r.name());
    assert_eq!(r.causation_id(), causation.map(|r| r.id()), "causation of {}", r.name());
}

fn started_args(r: &Record) -> Vec<(String, String)> {
    r.downcast_ref::<herald::Started>()
        .unwrap_or_else(|| panic!("{} is not a Started", r.name()))
        .args
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn args(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
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
    .map(|s| if s.is_empty() { "nest.note".to_owned() } else { format!("{prefix}{s}") })
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
    assert_eq!(note.downcast_ref::<NestNote>(), Some(&NestNote { level: 3 }));
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
        assert_eq!(f.downcast_ref::<herald::Failed>().unwrap().error, "sku 9 out of stock");
        assert!(f.duration().is_some());
    }
    assert!(history.iter().all(|r| r.phase() != Phase::Completed));
}

#[test]
fn a_propagated_error_fails_each_level_once_and_reaches_the_caller() {
    let bus = private_bus();
    assert_eq!(herald::with_bus(&bus, || fulfil(9)), Err(StockError { sku: 9 }));
    check_propagated(&bus.history(), "");
}

#[tokio::test]
async fn a_propagated_async_error_fails_each_level_once_and_reaches_the_caller() {
    let bus = private_bus();
    assert_eq!(herald::scope(&bus, fulfil_async(9)).await, Err(StockError { sku: 9 }));
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
    let roots: Vec<&Record> = history.iter().filter(|r| r.name() == "concurrent_root.started").collect();
    assert_eq!(roots.len(), 2);
    assert_ne!(roots[0].root_id(), roots[1].root_id());
    assert_ne!(roots[0].correlation_id(), roots[1].correlation_id());
    for root in roots {
        let worker = started_args(root)[0].1.clone();
        let tree: Vec<Record> = history.iter().filter(|r| r.root_id() == root.id()).cloned().collect();
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
        assert_eq!(tree[2].downcast_ref::<NestNote>().unwrap().level.to_string(), worker);
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
    let notes: Vec<&Record> = history.iter().filter(|r| r.name() == "nest.fan_note").collect();
    assert_eq!(notes.len(), 3);
    for note in notes {
        let leaf = note.downcast_ref::<FanNote>().unwrap().leaf.to_string();
        let leaf_s = leaf_starts[&leaf];
        links(note, Some(leaf_s), fan_s, Some(leaf_s));
    }
    let completions: Vec<&Record> = history.iter().filter(|r| r.name() == "fan_leaf.completed").collect();
    assert_eq!(completions.len(), 3);
    for c in completions {
        assert_eq!(c.parent_id(), Some(fan_s.id()));
        assert!(leaf_starts.values().any(|s| Some(s.id()) == c.causation_id()));
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
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
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

    let roots: Vec<&Record> = history.iter().filter(|r| r.name() == "interleaved_task.started").collect();
    assert_eq!(roots.len(), TASKS as usize);
    assert_eq!(roots.iter().map(|r| r.id()).collect::<HashSet<_>>().len(), TASKS as usize);

    let mut per_root: HashMap<Uuid, Vec<&Record>> = HashMap::new();
    for r in &history {
        per_root.entry(r.root_id()).or_default().push(r);
        let root = by_id[&r.root_id()];
        assert_eq!(task_of(r), task_of(root), "{} strayed into another tree", r.name());
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
    let vias: Vec<String> = notes.iter().map(|r| r.downcast_ref::<SpawnNote>().unwrap().via.clone()).collect();
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

// ---- a handler running inline nests under the call -------------------------------------

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
    // Emitted by the handler: caused by the trigger, nested under the call.
    links(&h[2], Some(started), started, Some(&h[1]));
    links(&h[3], Some(started), started, Some(&h[1]));
    links(&h[4], Some(started), started, Some(&h[3]));
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

// ---- operation names -------------------------------------------------------------------

#[derive(Debug, Default)]
pub struct EntityStore {
    items: Vec<u32>,
}

impl EntityStore {
    #[instrument_events]
    fn register(&mut self, item: u32) -> usize {
        self.items.push(item);
        self.items.len()
    }

    #[instrument_events]
    fn count(&self) -> usize {
        self.items.len()
    }

    #[instrument_events]
    async fn load(&self) -> usize {
        tokio::task::yield_now().await;
        self.items.len()
    }

    #[instrument_events(name = "entity.promotion")]
    fn promote(&self) -> bool {
        !self.items.is_empty()
    }

    #[instrument_events]
    fn into_items(self) -> Vec<u32> {
        self.items
    }
}

pub trait Greeter {
    fn greet(&self) -> String;
}

impl Greeter for EntityStore {
    #[instrument_events]
    fn greet(&self) -> String {
        format!("{} items", self.items.len())
    }
}

pub struct Cache<T> {
    entries: Vec<T>,
}

impl<T: Clone + Send + Sync + 'static> Cache<T> {
    #[instrument_events]
    fn first(&self) -> Option<T> {
        self.entries.first().cloned()
    }
}

#[instrument_events(name = "billing.charge")]
fn renamed_free_fn() -> u8 {
    1
}

#[instrument_events]
fn generic_len<T: fmt::Debug>(items: &[T]) -> usize {
    items.len()
}

#[instrument_events]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[tokio::test]
async fn operation_names_follow_the_receiver_type_or_the_fn_name() {
    let bus = private_bus();
    let items = herald::scope(&bus, async {
        let mut store = EntityStore::default();
        assert_eq!(store.register(4), 1);
        assert_eq!(store.count(), 1);
        assert_eq!(store.load().await, 1);
        assert!(store.promote());
        assert_eq!(store.greet(), "1 items");
        let cache = Cache { entries: vec!['x'] };
        assert_eq!(cache.first(), Some('x'));
        assert_eq!(renamed_free_fn(), 1);
        assert_eq!(generic_len(&[1, 2, 3]), 3);
        assert_eq!(evens(5).collect::<Vec<_>>(), [0, 2, 4]);
        store.into_items()
    })
    .await;
    assert_eq!(items, [4]);
    let started: Vec<String> = bus
        .query(&herald::Filter::new().phase(Phase::Started))
        .iter()
        .map(|r| r.name().to_owned())
        .collect();
    assert_eq!(
        started,
        [
            "entity_store.register.started",
            "entity_store.count.started",
            "entity_store.load.started",
            "entity.promotion.started",
            "entity_store.greet.started",
            "cache.first.started",
            "billing.charge.started",
            "generic_len.started",
            "evens.started",
            "entity_store.into_items.started",
        ]
    );
    let operations: Vec<String> = bus
        .query(&herald::Filter::new().phase(Phase::Completed))
        .iter()
        .map(|r| r.downcast_ref::<herald::Completed>().unwrap().operation.to_string())
        .collect();
    assert_eq!(
        operations,
        [
            "entity_store.register",
            "entity_store.count",
            "entity_store.load",
            "entity.promotion",
            "entity_store.greet",
            "cache.first",
            "billing.charge",
            "generic_len",
            "evens",
            "entity_store.into_items",
        ]
    );
}

// ---- args and ret --------------------------------------------------------------------

#[instrument_events(args)]
fn all_args(count: u32, label: &str) -> u32 {
    count + label.len() as u32
}

#[instrument_events(args(count))]
fn some_args(count: u32, label: &str) -> u32 {
    count + label.len() as u32
}

#[instrument_events(skip(password))]
fn skipped_arg(user: &str, password: &str) -> bool {
    user.len() < password.len()
}

#[instrument_events(args, ret)]
fn args_and_ret(a: u32, b: u32) -> u32 {
    a * b
}

#[instrument_events(ret)]
fn ret_only(tag: &str) -> Vec<String> {
    vec![tag.to_owned()]
}

#[instrument_events]
fn nothing_recorded(secret: u32) -> u32 {
    secret
}

#[test]
fn args_and_ret_are_recorded_in_the_lifecycle_payloads() {
    let bus = private_bus();
    herald::with_bus(&bus, || {
        assert_eq!(all_args(2, "abc"), 5);
        assert_eq!(some_args(2, "abc"), 5);
        assert!(skipped_arg("ada", "lovelace"));
        assert_eq!(args_and_ret(6, 7), 42);
        assert_eq!(ret_only("x"), ["x"]);
        assert_eq!(nothing_recorded(99), 99);
    });
    let h = bus.history();
    assert_eq!(h.len(), 12);
    let started = |i: usize| started_args(&h[i]);
    let result = |i: usize| h[i].downcast_ref::<herald::Completed>().unwrap().result.clone();

    assert_eq!(started(0), args(&[("count", "2"), ("label", "\"abc\"")]));
    assert_eq!(result(1), None);
    assert_eq!(started(2), args(&[("count", "2")]));
    assert_eq!(started(4), args(&[("user", "\"ada\"")]));
    assert_eq!(started(6), args(&[("a", "6"), ("b", "7")]));
    assert_eq!(result(7), Some("42".to_owned()));
    assert_eq!(started(8), args(&[]));
    assert_eq!(result(9), Some("[\"x\"]".to_owned()));
    assert_eq!(started(10), args(&[]));
    assert_eq!(result(11), None);
    assert_eq!(
        h[10].downcast_ref::<herald::Started>().unwrap().operation,
        "nothing_recorded"
    );
}

// ---- custom lifecycle events ---------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "nest.charge_began")]
pub struct ChargeBegan {
    pub cents: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "nest.charge_done")]
pub struct ChargeDone {
    pub receipt: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "nest.charge_refused")]
pub struct ChargeRefused {
    pub reason: String,
}

#[instrument_events(
    started = ChargeBegan { cents },
    completed = |receipt: &u64| ChargeDone { receipt: *receipt },
    failed = |e: &String| ChargeRefused { reason: e.to_string() }
)]
fn charge_card(cents: u64) -> Result<u64, String> {
    if cents > 1_000 {
        Err(format!("{cents} is over the limit"))
    } else {
        Ok(cents + 1)
    }
}

#[instrument_events(completed = |n: &u32| ChargeDone { receipt: u64::from(*n) })]
async fn count_async(n: u32) -> u32 {
    tokio::task::yield_now().await;
    n
}

#[test]
fn custom_lifecycle_events_replace_the_defaults() {
    let bus = private_bus();
    assert_eq!(herald::with_bus(&bus, || charge_card(10)), Ok(11));
    assert_eq!(
        herald::with_bus(&bus, || charge_card(5_000)),
        Err("5000 is over the limit".to_owned())
    );
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "nest.charge_began",
            "nest.charge_done",
            "nest.charge_began",
            "nest.charge_refused"
        ]
    );
    assert_eq!(h[0].downcast_ref::<ChargeBegan>(), Some(&ChargeBegan { cents: 10 }));
    assert_eq!(h[0].phase(), Phase::Started);
    assert_eq!(h[1].downcast_ref::<ChargeDone>(), Some(&ChargeDone { receipt: 11 }));
    assert_eq!(h[1].phase(), Phase::Completed);
    links(&h[1], None, &h[0], Some(&h[0]));
    assert!(h[1].duration().is_some());
    assert_eq!(h[2].downcast_ref::<ChargeBegan>(), Some(&ChargeBegan { cents: 5_000 }));
    assert_eq!(
        h[3].downcast_ref::<ChargeRefused>(),
        Some(&ChargeRefused {
            reason: "5000 is over the limit".to_owned()
        })
    );
    assert_eq!(h[3].phase(), Phase::Failed);
    links(&h[3], None, &h[2], Some(&h[2]));
}

#[tokio::test]
async fn custom_completed_event_on_an_async_fn() {
    let bus = private_bus();
    assert_eq!(herald::scope(&bus, count_async(3)).await, 3);
    let h = bus.history();
    assert_eq!(names(&h), ["count_async.started", "nest.charge_done"]);
    assert_eq!(h[1].downcast_ref::<ChargeDone>(), Some(&ChargeDone { receipt: 3 }));
    links(&h[1], None, &h[0], Some(&h[0]));
}

fn broken_started() -> ChargeBegan {
    panic!("started factory broke")
}

#[instrument_events(started = broken_started())]
fn panicking_started_factory() -> u32 {
    5
}

#[instrument_events(completed = |_v| -> ChargeDone { panic!("completed factory broke") })]
fn panicking_completed_factory() -> u32 {
    6
}

#[instrument_events(failed = |_e| -> ChargeRefused { panic!("failed factory broke") })]
fn panicking_failed_factory() -> Result<u32, String> {
    Err("real error".to_owned())
}

#[test]
fn a_panicking_factory_does_not_change_the_result() {
    let bus = private_bus();
    herald::with_bus(&bus, || {
        assert_eq!(panicking_started_factory(), 5);
        assert_eq!(panicking_completed_factory(), 6);
        assert_eq!(panicking_failed_factory(), Err("real error".to_owned()));
        assert_eq!(herald::current(), None);
    });
    let h = bus.history();
    // Each falls back to the default lifecycle event.
    assert_eq!(
        names(&h),
        [
            "panicking_started_factory.started",
            "panicking_started_factory.completed",
            "panicking_completed_factory.started",
            "panicking_completed_factory.completed",
            "panicking_failed_factory.started",
            "panicking_failed_factory.failed",
        ]
    );
    assert_eq!(h[5].downcast_ref::<herald::Failed>().unwrap().error, "real error");
    links(&h[1], None, &h[0], Some(&h[0]));
}
