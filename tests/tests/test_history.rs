//! History: bounded with eviction from every index, queries with `Filter`, and trees
//! with their `Display`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use herald::prelude::*;
use herald::{Bus, Filter, Kind, Phase, Record, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "hist.tick")]
pub struct HistTick {
    pub n: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "hist.task")]
pub struct HistTask {
    pub n: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "hist.command", kind = "command")]
pub struct HistCommand {
    pub n: u32,
}

fn private_bus() -> Bus {
    Bus::builder().registered_handlers(false).build().unwrap()
}

fn ids(records: &[Record]) -> Vec<Uuid> {
    records.iter().map(|r| r.id()).collect()
}

fn names(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.name()).collect()
}

// ---- history -------------------------------------------------------------------------

#[instrument_events(name = "hist.pair")]
fn pair() {}

#[test]
fn history_is_bounded_and_eviction_leaves_no_trace() {
    let bus = Bus::builder()
        .registered_handlers(false)
        .history(3)
        .build()
        .unwrap();
    let emitted: Vec<Uuid> = (0..5).map(|n| bus.emit(HistTick { n })).collect();
    assert_eq!(ids(&bus.history()), emitted[2..]);
    for gone in &emitted[..2] {
        assert!(bus.get(*gone).is_none());
        assert!(bus.tree(*gone).is_none());
        assert!(bus.query(&Filter::new().root(*gone)).is_empty());
    }
    assert_eq!(
        bus.get(emitted[4]).unwrap().downcast_ref::<HistTick>(),
        Some(&HistTick { n: 4 })
    );
    assert_eq!(bus.tree(emitted[4]).unwrap().len(), 1);
    assert_eq!(bus.query(&Filter::new().name("hist.tick")).len(), 3);
    assert_eq!(bus.__history_index_sizes(), (3, 3));

    // Trees lose their records one by one, and the root index follows.
    herald::with_bus(&bus, || {
        pair();
        pair();
    });
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "hist.pair.completed",
            "hist.pair.started",
            "hist.pair.completed"
        ]
    );
    let first_root = h[0].root_id();
    assert!(bus.get(first_root).is_none());
    assert!(bus.tree(first_root).is_none());
    assert_eq!(
        ids(&bus.query(&Filter::new().root(first_root))),
        [h[0].id()]
    );
    assert_eq!(bus.__history_index_sizes(), (3, 2));

    let last = bus.emit(HistTick { n: 9 });
    assert!(bus.query(&Filter::new().root(first_root)).is_empty());
    assert_eq!(bus.__history_index_sizes(), (3, 2));
    assert_eq!(bus.tree(h[1].id()).unwrap().len(), 2);
    assert_eq!(bus.history().last().unwrap().id(), last);

    // Many more: the indexes stay at the capacity.
    for n in 0..1_000 {
        bus.emit(HistTick { n });
    }
    assert_eq!(bus.__history_index_sizes(), (3, 3));
}

#[test]
fn history_can_be_turned_off() {
    let bus = Bus::builder()
        .registered_handlers(false)
        .history(0)
        .build()
        .unwrap();
    let seen = Arc::new(AtomicU32::new(0));
    let s = seen.clone();
    let _sub = bus.subscribe::<HistTick>(move |_| {
        s.fetch_add(1, Ordering::SeqCst);
    });
    let id = bus.emit(HistTick { n: 1 });
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(bus.history().is_empty());
    assert!(bus.get(id).is_none());
    assert_eq!(bus.__history_index_sizes(), (0, 0));
}

// ---- queries -------------------------------------------------------------------------

#[instrument_events(name = "hist.query_op")]
fn query_op() {
    herald::emit(HistTask { n: 4 });
}

#[test]
fn query_filters_every_field() {
    let bus = private_bus();
    bus.event(HistTask { n: 1 })
        .source("api")
        .target("db")
        .emit();
    bus.event(HistTask { n: 2 })
        .source("cron")
        .phase(Phase::Failed)
        .emit();
    std::thread::sleep(Duration::from_millis(2));
    let command = bus.emit(HistCommand { n: 3 });
    std::thread::sleep(Duration::from_millis(2));
    herald::with_bus(&bus, query_op);
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "hist.task",
            "hist.task",
            "hist.command",
            "hist.query_op.started",
            "hist.task",
            "hist.query_op.completed"
        ]
    );
    let pick = |f: Filter| -> Vec<Uuid> { ids(&bus.query(&f)) };
    let at = |i: &[usize]| -> Vec<Uuid> { i.iter().map(|&i| h[i].id()).collect() };

    assert_eq!(pick(Filter::new()), at(&[0, 1, 2, 3, 4, 5]));
    assert_eq!(pick(Filter::new().name("hist.task")), at(&[0, 1, 4]));
    assert_eq!(pick(Filter::new().name("hist.*")), at(&[0, 1, 2, 4]));
    assert_eq!(pick(Filter::new().name("hist.**")), at(&[0, 1, 2, 3, 4, 5]));
    assert_eq!(pick(Filter::new().name("**.started")), at(&[3]));
    assert_eq!(pick(Filter::new().name("hist.query_op.*")), at(&[3, 5]));
    assert_eq!(pick(Filter::new().name("hist.nothing")), at(&[]));
    assert_eq!(pick(Filter::new().kind(Kind::Command)), at(&[2]));
    assert_eq!(pick(Filter::new().phase(Phase::Failed)), at(&[1]));
    assert_eq!(pick(Filter::new().phase(Phase::Pending)), at(&[0, 2, 4]));
    assert_eq!(pick(Filter::new().source("api")), at(&[0]));
    assert_eq!(pick(Filter::new().target("db")), at(&[0]));
    assert_eq!(
        pick(Filter::new().name("hist.task").source("cron")),
        at(&[1])
    );

    let t = bus.get(command).unwrap().timestamp();
    assert_eq!(pick(Filter::new().since(t)), at(&[2, 3, 4, 5]));
    assert_eq!(pick(Filter::new().until(t)), at(&[0, 1, 2]));
    assert_eq!(pick(Filter::new().since(t).until(t)), at(&[2]));

    let root = h[3].id();
    assert_eq!(pick(Filter::new().root(root)), at(&[3, 4, 5]));
    assert_eq!(pick(Filter::new().correlation(root)), at(&[3, 4, 5]));
    assert_eq!(pick(Filter::new().root(root).name("hist.task")), at(&[4]));
    assert_eq!(pick(Filter::new().root(h[0].id())), at(&[0]));

    // `limit(n)` keeps the newest n, oldest first.
    assert_eq!(pick(Filter::new().name("hist.task").limit(2)), at(&[1, 4]));
    assert_eq!(pick(Filter::new().limit(1)), at(&[5]));
    assert_eq!(pick(Filter::new().root(root).limit(2)), at(&[4, 5]));
    assert_eq!(pick(Filter::new().limit(0)), at(&[]));

    assert!(Filter::new()
        .name("hist.*")
        .kind(Kind::Command)
        .matches(&h[2]));
    assert!(!Filter::new()
        .name("hist.*")
        .kind(Kind::Command)
        .matches(&h[0]));
}

// ---- trees ---------------------------------------------------------------------------

#[instrument_events(name = "hist_tree.outer")]
fn tree_outer() -> Result<(), String> {
    tree_inner();
    herald::emit(HistTask { n: 7 });
    let _ = tree_failing();
    Ok(())
}

#[instrument_events(name = "hist_tree.inner")]
fn tree_inner() {
    herald::emit(HistTick { n: 1 });
}

#[instrument_events(name = "hist_tree.failing")]
fn tree_failing() -> Result<(), String> {
    Err("nope".to_owned())
}

/// The tree's text without the durations (`[completed in 1.2µs]` -> `[completed]`).
fn without_durations(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line.to_owned();
        if let Some(start) = line.find(" in ") {
            let end = start + line[start..].find([':', ']']).unwrap();
            line.replace_range(start..end, "");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn tree_has_the_shape_of_the_calls_and_prints_it() {
    let bus = private_bus();
    herald::with_bus(&bus, tree_outer).unwrap();
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "hist_tree.outer.started",
            "hist_tree.inner.started",
            "hist.tick",
            "hist_tree.inner.completed",
            "hist.task",
            "hist_tree.failing.started",
            "hist_tree.failing.failed",
            "hist_tree.outer.completed"
        ]
    );
    let tree = bus.tree(h[0].id()).unwrap();
    assert_eq!(tree.len(), 8);
    assert_eq!(tree.depth(), 3);
    assert_eq!(tree.record().id(), h[0].id());
    let children: Vec<&str> = tree.children().iter().map(|c| c.record().name()).collect();
    assert_eq!(
        children,
        [
            "hist_tree.inner.started",
            "hist_tree.inner.completed",
            "hist.task",
            "hist_tree.failing.started",
            "hist_tree.failing.failed",
            "hist_tree.outer.completed"
        ]
    );
    let inner = &tree.children()[0];
    assert_eq!(inner.children().len(), 1);
    assert_eq!(inner.children()[0].record().name(), "hist.tick");
    // Depth first: the order the calls happened in.
    assert_eq!(ids(&tree.records()), ids(&h));

    let text = tree.to_string();
    assert!(text.contains("hist_tree.outer [completed in "), "{text}");
    assert_eq!(
        without_durations(&text),
        "hist_tree.outer [completed]\n\
         \x20 hist_tree.inner [completed]\n\
         \x20   hist.tick [pending]\n\
         \x20 hist.task [pending]\n\
         \x20 ✗ hist_tree.failing [failed: nope]\n"
    );

    // A subtree has its own root: the tree of the inner call is not a tree root.
    assert!(bus.tree(h[1].id()).is_none());
    assert!(bus.tree(Uuid::nil()).is_none());
}
