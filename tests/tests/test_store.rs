//! The SQLite event store: every index answers like history, records survive a restart,
//! 100k records are all kept, and bad paths, a full file and a full queue are reported
//! and counted, never a panic.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use herald::prelude::*;
use herald::store::SqliteStore;
use herald::store::{StoreError, StoreOptions};
use herald::{Bus, Filter, Kind, Phase, Record, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "store.tick")]
pub struct StoreTick {
    pub n: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "store.command", kind = "command")]
pub struct StoreCommand {
    pub n: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "store.bulk")]
pub struct StoreBulk {
    pub n: u32,
    pub text: String,
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "herald-test-store-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("events.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bus_with(store: &SqliteStore) -> Bus {
    Bus::builder()
        .registered_handlers(false)
        .store(store.clone())
        .build()
        .unwrap()
}

/// A bus that keeps records only in `store` (no history).
fn bus_with_no_history(store: &SqliteStore) -> Bus {
    Bus::builder()
        .registered_handlers(false)
        .history(0)
        .store(store.clone())
        .build()
        .unwrap()
}

fn ids(records: &[Record]) -> Vec<Uuid> {
    records.iter().map(|r| r.id()).collect()
}

#[instrument_events(name = "store.checkout.charge")]
fn charge(fail: bool) -> Result<(), String> {
    herald::emit(StoreTick { n: 100 });
    if fail {
        Err("card declined".to_owned())
    } else {
        Ok(())
    }
}

#[instrument_events(name = "store.checkout")]
fn checkout(fail: bool) -> Result<u32, String> {
    herald::emit(StoreCommand { n: 7 });
    charge(fail)?;
    Ok(7)
}

/// Records of every shape: sources, targets, kinds, phases, two nested trees.
fn workload(bus: &Bus) {
    bus.event(StoreTick { n: 0 })
        .source("billing")
        .target("ledger")
        .emit();
    bus.event(StoreTick { n: 1 }).source("shipping").emit();
    bus.event(StoreCommand { n: 2 })
        .phase(Phase::Progress)
        .emit();
    let _ = herald::with_bus(bus, || checkout(false));
    let _ = herald::with_bus(bus, || checkout(true));
    bus.event(StoreTick { n: 3 }).target("ledger").emit();
}

// ---- queries -------------------------------------------------------------------------

#[tokio::test]
async fn every_index_answers_like_history() {
    let dir = TempDir::new("indexes");
    let store = SqliteStore::open(dir.db()).unwrap();
    let bus = bus_with(&store);
    workload(&bus);
    bus.flush().await;

    let all = bus.history();
    assert_eq!(store.count().unwrap(), all.len() as u64);
    let failed_root = all
        .iter()
        .rev()
        .find(|r| r.name() == "store.checkout.started")
        .unwrap();
    let (t1, t2) = (all[2].timestamp(), all[6].timestamp());
    let cases: Vec<(&str, Filter, usize)> = vec![
        ("everything", Filter::new(), all.len()),
        ("exact name", Filter::new().name("store.tick"), 5),
        ("one-segment glob", Filter::new().name("store.*"), 8),
        (
            "any-segment glob",
            Filter::new().name("store.checkout.**"),
            8,
        ),
        ("leading glob", Filter::new().name("**.failed"), 2),
        (
            "inner glob",
            Filter::new().name("store.*.charge.started"),
            2,
        ),
        ("kind", Filter::new().kind(Kind::Command), 3),
        ("phase", Filter::new().phase(Phase::Progress), 1),
        ("phase started", Filter::new().phase(Phase::Started), 4),
        ("source", Filter::new().source("billing"), 1),
        ("target", Filter::new().target("ledger"), 2),
        ("time window", Filter::new().since(t1).until(t2), 5),
        ("root", Filter::new().root(failed_root.id()), 6),
        (
            "correlation",
            Filter::new().correlation(failed_root.correlation_id()),
            6,
        ),
        (
            "name and window",
            Filter::new().name("store.tick").since(t1),
            3,
        ),
        (
            "glob and limit",
            Filter::new().name("store.checkout.**").limit(3),
            3,
        ),
        ("no match", Filter::new().name("store.nothing"), 0),
    ];
    for (what, filter, expected) in cases {
        let from_history = ids(&bus.query(&filter));
        let from_store = ids(&store.query(&filter).unwrap());
        assert_eq!(from_store, from_history, "{what}");
        assert_eq!(from_store.len(), expected, "{what}");
        let stored: Vec<Uuid> = store
            .query_stored(&filter)
            .unwrap()
            .iter()
            .map(|r| r.id())
            .collect();
        assert_eq!(stored, from_history, "{what} (stored rows)");
    }
    assert_eq!(store.metrics().undecodable, 0);
}

#[tokio::test]
async fn records_and_trees_read_back_whole() {
    let dir = TempDir::new("whole");
    let store = SqliteStore::open(dir.db()).unwrap();
    let bus = bus_with(&store);
    workload(&bus);
    bus.flush().await;

    for record in bus.history() {
        let back = store.get(record.id()).unwrap().unwrap();
        assert_eq!(back.to_json(), record.to_json());
        let row = store.get_stored(record.id()).unwrap().unwrap();
        assert_eq!(row.json(), record.to_json());
        assert_eq!(
            (row.name(), row.phase(), row.parent_id(), row.duration()),
            (
                record.name(),
                record.phase(),
                record.parent_id(),
                record.duration()
            )
        );
    }
    assert!(store.get(Uuid::new_v4()).unwrap().is_none());
    assert!(store.tree(Uuid::new_v4()).unwrap().is_none());

    let root = bus.history()[3].id();
    let tree = store.tree(root).unwrap().unwrap();
    assert_eq!(tree.to_string(), bus.tree(root).unwrap().to_string());
}

#[tokio::test]
async fn limit_keeps_the_newest_oldest_first() {
    let dir = TempDir::new("limit");
    let store = SqliteStore::open(dir.db()).unwrap();
    let bus = bus_with(&store);
    let emitted: Vec<Uuid> = (0..50).map(|n| bus.emit(StoreTick { n })).collect();
    bus.flush().await;

    let newest = store.query(&Filter::new().limit(5)).unwrap();
    assert_eq!(ids(&newest), emitted[45..]);
    let newest = store
        .query(&Filter::new().name("store.*").limit(5))
        .unwrap();
    assert_eq!(ids(&newest), emitted[45..]);
    assert_eq!(store.query(&Filter::new().limit(0)).unwrap().len(), 0);
    assert_eq!(store.query(&Filter::new().limit(500)).unwrap().len(), 50);
}

// ---- restart and volume --------------------------------------------------------------

#[tokio::test]
async fn records_survive_a_restart() {
    let dir = TempDir::new("restart");
    let (root, tree_text, json) = {
        let store = SqliteStore::open(dir.db()).unwrap();
        let bus = bus_with(&store);
        let _ = herald::with_bus(&bus, || checkout(true));
        bus.flush().await;
        let root = bus.history()[0].id();
        let json: Vec<String> = bus.history().iter().map(Record::to_json).collect();
        (root, bus.tree(root).unwrap().to_string(), json)
        // The bus and the store are dropped here, as at the end of a process.
    };

    let store = SqliteStore::open(dir.db()).unwrap();
    let back: Vec<String> = store
        .query(&Filter::new())
        .unwrap()
        .iter()
        .map(Record::to_json)
        .collect();
    assert_eq!(back, json);
    assert_eq!(store.tree(root).unwrap().unwrap().to_string(), tree_text);
    assert!(tree_text.contains("failed"), "{tree_text}");

    // And it keeps appending after the restart.
    let bus = bus_with(&store);
    bus.emit(StoreTick { n: 1 });
    bus.flush().await;
    assert_eq!(store.count().unwrap(), json.len() as u64 + 1);
}

#[tokio::test]
async fn a_hundred_thousand_records_from_four_threads_are_all_kept() {
    const PER_THREAD: u32 = 25_000;
    let dir = TempDir::new("volume");
    let store = StoreOptions::new()
        .queue_capacity(4 * PER_THREAD as usize)
        .open(dir.db())
        .unwrap();
    let bus = bus_with_no_history(&store);
    std::thread::scope(|s| {
        for t in 0..4 {
            let bus = &bus;
            s.spawn(move || {
                let ticks = (0..PER_THREAD).map(|n| StoreTick {
                    n: t * PER_THREAD + n,
                });
                bus.emit_batch(ticks);
            });
        }
    });
    bus.flush().await;

    assert_eq!(store.count().unwrap(), 100_000);
    let m = store.metrics();
    assert_eq!(
        (m.accepted, m.written, m.lost, m.pending()),
        (100_000, 100_000, 0, 0)
    );
    let most = herald::store::DEFAULT_BATCH_SIZE as u64;
    assert!(
        m.batches >= 100_000 / most,
        "batches hold at most {most}: {m:?}"
    );
    let sample = store
        .query(&Filter::new().name("store.tick").limit(10))
        .unwrap();
    assert_eq!(sample.len(), 10);
}

// ---- flush ---------------------------------------------------------------------------

#[tokio::test]
async fn flush_waits_for_everything_accepted_before_it() {
    let dir = TempDir::new("flush");
    let store = SqliteStore::open(dir.db()).unwrap();
    store.flush().await; // nothing pending
    let bus = bus_with(&store);
    for round in 1..=3u64 {
        bus.emit_batch((0..1_000).map(|n| StoreTick { n }));
        store.flush().await;
        assert_eq!(store.count().unwrap(), round * 1_000);
        assert_eq!(store.metrics().pending(), 0);
    }
    // Through the bus, from another task, too.
    let handle = {
        let bus = bus.clone();
        tokio::spawn(async move {
            bus.emit(StoreTick { n: 0 });
            bus.flush().await;
        })
    };
    handle.await.unwrap();
    assert_eq!(store.count().unwrap(), 3_001);
}

// ---- failures ------------------------------------------------------------------------

#[test]
fn bad_paths_are_typed_errors() {
    let dir = TempDir::new("paths");
    let open_error = |path: &Path| match SqliteStore::open(path) {
        Err(StoreError::Open { path: p, reason }) => {
            assert_eq!(p, path);
            reason
        }
        other => panic!("{}: expected an open error, got {other:?}", path.display()),
    };
    // A directory.
    let reason = open_error(&dir.0);
    assert!(reason.contains("directory"), "{reason}");
    // A file in a directory that does not exist.
    open_error(&dir.0.join("missing").join("events.db"));
    // A file that is not a database.
    let junk = dir.0.join("junk.db");
    std::fs::write(&junk, vec![b'x'; 8_192]).unwrap();
    let reason = open_error(&junk);
    assert!(reason.contains("not a database"), "{reason}");
    // Read-only needs an existing store.
    let err = SqliteStore::open_read_only(dir.0.join("absent.db")).unwrap_err();
    assert!(err.to_string().ends_with("no such file"), "{err}");
    assert!(err.to_string().starts_with("cannot open store `"), "{err}");
}

#[tokio::test]
async fn a_full_file_counts_its_losses_and_keeps_what_fit() {
    let dir = TempDir::new("full");
    let store = StoreOptions::new()
        .max_bytes(256 * 1024)
        .batch_size(50)
        .open(dir.db())
        .unwrap();
    let bus = bus_with_no_history(&store);
    let text = "x".repeat(500);
    for chunk in 0..40 {
        bus.emit_batch((0..100).map(|n| StoreBulk {
            n: chunk * 100 + n,
            text: text.clone(),
        }));
        bus.flush().await;
    }

    let m = store.metrics();
    assert_eq!(m.accepted, 4_000);
    assert!(m.failed > 0, "the cap was reached: {m:?}");
    assert_eq!(m.written + m.failed, 4_000, "{m:?}");
    assert_eq!(m.lost, m.failed);
    assert_eq!(store.count().unwrap(), m.written);
    match store.last_error() {
        Some(StoreError::Write { records, reason }) => {
            assert!(records > 0);
            assert!(reason.contains("full"), "{reason}");
        }
        other => panic!("expected a write error, got {other:?}"),
    }
    // What fit is intact and readable.
    let kept = store.query(&Filter::new().limit(1)).unwrap();
    assert_eq!(kept[0].downcast_ref::<StoreBulk>().unwrap().text, text);
}

#[tokio::test]
async fn a_full_queue_refuses_and_counts() {
    let dir = TempDir::new("queue");
    let store = StoreOptions::new()
        .queue_capacity(1)
        .open(dir.db())
        .unwrap();
    let bus = bus_with_no_history(&store);
    bus.emit_batch((0..20_000).map(|n| StoreTick { n }));
    bus.flush().await;

    let m = store.metrics();
    assert_eq!(m.accepted, 20_000);
    assert!(m.refused > 0, "a one-slot queue overflows: {m:?}");
    assert_eq!(m.written + m.refused, 20_000, "{m:?}");
    assert_eq!(store.count().unwrap(), m.written);
    assert_eq!(store.lost(), m.refused);
    assert!(
        store.last_error().is_none(),
        "refusals are not write errors"
    );
}

#[tokio::test]
async fn replay_reads_the_store_across_a_restart() {
    let dir = TempDir::new("replay");
    {
        let store = SqliteStore::open(dir.db()).unwrap();
        let bus = bus_with(&store);
        for n in 0..5 {
            bus.emit(StoreTick { n });
        }
        bus.emit(StoreCommand { n: 9 });
        bus.flush().await;
    }

    // A new process: empty history, the same file.
    let store = SqliteStore::open(dir.db()).unwrap();
    let bus = bus_with_no_history(&store);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let _sub = bus.subscribe::<StoreTick>(move |ev| {
        assert_eq!(ev.label(herald::REPLAYED_LABEL), Some("true"));
        s.lock().unwrap().push(ev.payload().n);
    });

    let report = bus.replay(&Filter::new().name("store.tick")).await;
    assert_eq!(report.source, herald::ReplaySource::Store);
    assert_eq!(report.error, None);
    assert_eq!((report.matched, report.replayed, report.handled), (5, 5, 5));
    assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 3, 4]);
    // Replayed copies are not stored again.
    bus.flush().await;
    assert_eq!(store.count().unwrap(), 6);

    // The newest two only.
    let report = bus.replay(&Filter::new().name("store.tick").limit(2)).await;
    assert_eq!(report.replayed, 2);
    assert_eq!(seen.lock().unwrap()[5..], [3, 4]);
}

#[tokio::test]
async fn replay_without_a_store_reads_history() {
    let bus = Bus::builder().registered_handlers(false).build().unwrap();
    bus.emit(StoreTick { n: 1 });
    let report = bus.replay(&Filter::new().name("store.tick")).await;
    assert_eq!(report.source, herald::ReplaySource::History);
    assert_eq!(report.replayed, 1);
}
