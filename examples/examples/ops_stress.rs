//! Stress bench for `herald::ops`: operations on ten entities of an in-memory store
//! (version an entity, modify a field, borrow a field from another entity) compete by
//! priority (25 % low, 45 % normal, 25 % high, 5 % critical) through one coordinator.
//!
//! It submits at a fixed rate first, then flat out, and prints throughput (operations
//! submitted and resolved per second), resolution latency p50/p99, the outcome counts
//! and memory (resident now, and the peak from `VmHWM`).
//!
//! ```text
//! cargo run --example ops_stress                               # 3 seconds
//! cargo run --release --example ops_stress -- --seconds 60     # memory flatness
//! ```
//!
//! Options: `--seconds N` (whole run, default 3: a quarter at the fixed rate, the rest
//! flat out), `--rate R` (operations per second in the fixed-rate phase, default
//! 20,000), `--grace-ms G` (the grace period, default 2).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald::ops::{Config, Coordinator, Metrics, Operation};
use herald::{Bus, Priority, Uuid};

const TARGETS: usize = 10;
const FIELDS: usize = 8;
/// Flat out, submitters pause while this many operations are unresolved.
const MAX_IN_FLIGHT: u64 = 20_000;

// ---- the entity store --------------------------------------------------------------

/// An entity: a version, a few fields, and its last few versions.
#[derive(Default)]
struct Entity {
    version: u64,
    fields: [i64; FIELDS],
    snapshots: VecDeque<(u64, [i64; FIELDS])>,
}

/// Ten entities, each under its own lock.
struct Store {
    ids: Vec<Uuid>,
    entities: Vec<Mutex<Entity>>,
}

#[derive(Debug)]
enum StoreError {
    /// The entity moved on while the operation was being prepared.
    VersionConflict {
        entity: usize,
        expected: u64,
        found: u64,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::VersionConflict {
                entity,
                expected,
                found,
            } => {
                write!(
                    f,
                    "entity {entity}: expected version {expected}, found {found}"
                )
            }
        }
    }
}

impl Store {
    fn new() -> Store {
        Store {
            ids: (0..TARGETS).map(|_| Uuid::new_v4()).collect(),
            entities: (0..TARGETS)
                .map(|_| Mutex::new(Entity::default()))
                .collect(),
        }
    }

    fn entity(&self, i: usize) -> std::sync::MutexGuard<'_, Entity> {
        self.entities[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a snapshot and bumps the version; `expected` simulates an optimistic check.
    fn version(&self, i: usize, expected: Option<u64>) -> Result<u64, StoreError> {
        let mut e = self.entity(i);
        if let Some(expected) = expected {
            if expected != e.version {
                return Err(StoreError::VersionConflict {
                    entity: i,
                    expected,
                    found: e.version,
                });
            }
        }
        let snapshot = (e.version, e.fields);
        e.snapshots.push_back(snapshot);
        if e.snapshots.len() > 4 {
            e.snapshots.pop_front();
        }
        e.version += 1;
        Ok(e.version)
    }

    fn modify(&self, i: usize, field: usize, value: i64) -> Result<u64, StoreError> {
        let mut e = self.entity(i);
        e.fields[field] = value;
        Ok(e.version)
    }

    /// Copies a field of entity `from` into entity `i` (one lock at a time).
    fn borrow_field(&self, i: usize, from: usize, field: usize) -> Result<u64, StoreError> {
        let value = self.entity(from).fields[field];
        let mut e = self.entity(i);
        e.fields[field] = value;
        Ok(e.version)
    }
}

// ---- operations --------------------------------------------------------------------

/// xorshift64*, seeded from a random uuid.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        Rng(Uuid::new_v4().as_u64_pair().0 | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn priority(rng: &mut Rng) -> Priority {
    match rng.below(100) {
        0..25 => Priority::Low,
        25..70 => Priority::Normal,
        70..95 => Priority::High,
        _ => Priority::Critical,
    }
}

/// Submits one random operation.
fn submit_one(ops: &Coordinator, store: &Arc<Store>, rng: &mut Rng) {
    let i = rng.below(TARGETS);
    let target = store.ids[i];
    let store = store.clone();
    let prio = priority(rng);
    let op = |kind: &'static str| Operation::new(kind, target).with_priority(prio);
    let submitted = match rng.below(3) {
        0 => {
            // One in fifty expects a stale version and fails (then retries).
            let stale = rng.below(50) == 0;
            let op = op("entity.version");
            ops.submit(op, move || {
                let expected = stale.then_some(u64::MAX);
                std::future::ready(store.version(i, expected))
            })
        }
        1 => {
            let (field, value) = (rng.below(FIELDS), rng.next() as i64);
            ops.submit(op("entity.modify"), move || {
                std::future::ready(store.modify(i, field, value))
            })
        }
        _ => {
            let (from, field) = (
                (i + 1 + rng.below(TARGETS - 1)) % TARGETS,
                rng.below(FIELDS),
            );
            ops.submit(op("entity.borrow"), move || {
                std::future::ready(store.borrow_field(i, from, field))
            })
        }
    };
    // Nobody awaits the outcome: the counters tell what happened.
    drop(submitted.expect("fresh ids, no parents: submit cannot fail"));
}

// ---- measuring ---------------------------------------------------------------------

fn resolved(m: &Metrics) -> u64 {
    m.completed + m.rejected + m.cancelled
}

/// `VmRSS` and `VmHWM` in KiB (zero where /proc is not available).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

struct Phase {
    name: &'static str,
    seconds: f64,
    submitted: u64,
    resolved: u64,
}

impl Phase {
    fn print(&self) {
        println!(
            "{:<11} {:>6.1} s  submitted {:>9.0} ops/s  resolved {:>9.0} ops/s",
            self.name,
            self.seconds,
            self.submitted as f64 / self.seconds,
            self.resolved as f64 / self.seconds,
        );
    }
}

/// Prints a progress line per reporting interval until `stop`.
async fn report(ops: Coordinator, stop: Arc<AtomicBool>, every: Duration) {
    let start = Instant::now();
    let mut last = ops.metrics();
    let mut last_at = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(every).await;
        let m = ops.metrics();
        let dt = last_at.elapsed().as_secs_f64();
        let (rss, _) = memory_kib();
        println!(
            "  t={:>5.1}s  submitted {:>8.0}/s  resolved {:>8.0}/s  pending {:>6}  executing {:>3}  rss {:>6.1} MiB",
            start.elapsed().as_secs_f64(),
            (m.submitted - last.submitted) as f64 / dt,
            (resolved(&m) - resolved(&last)) as f64 / dt,
            m.pending,
            m.executing,
            mib(rss),
        );
        last = m;
        last_at = Instant::now();
    }
}

async fn run_phase(
    name: &'static str,
    ops: &Coordinator,
    seconds: f64,
    body: impl std::future::Future<Output = ()>,
) -> Phase {
    let before = ops.metrics();
    let start = Instant::now();
    body.await;
    let after = ops.metrics();
    Phase {
        name,
        seconds: start.elapsed().as_secs_f64().max(seconds.min(1e-3)),
        submitted: after.submitted - before.submitted,
        resolved: resolved(&after) - resolved(&before),
    }
}

fn arg(args: &[String], name: &str) -> Option<f64> {
    let i = args.iter().position(|a| a == name)?;
    match args.get(i + 1).map(|v| v.parse::<f64>()) {
        Some(Ok(v)) if v > 0.0 => Some(v),
        _ => {
            eprintln!("{name} takes a positive number");
            std::process::exit(2);
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seconds = arg(&args, "--seconds").unwrap_or(3.0);
    let rate = arg(&args, "--rate").unwrap_or(20_000.0);
    let grace = Duration::from_secs_f64(arg(&args, "--grace-ms").unwrap_or(2.0) / 1e3);
    let fixed_seconds = (seconds / 4.0).max(0.5).min(seconds);
    let flat_seconds = (seconds - fixed_seconds).max(0.5);

    let bus = Bus::builder()
        .registered_handlers(false)
        .history(1_024)
        .build()?;
    let events = Arc::new(AtomicU64::new(0));
    let seen = events.clone();
    let _observer = bus.subscribe_pattern("operation.**", move |_| {
        seen.fetch_add(1, Ordering::Relaxed);
    });
    let config = Config {
        grace_period: grace,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(20),
        default_max_retries: 2,
        ..Config::default()
    };
    let ops = Coordinator::new(&bus, config.clone());
    let store = Arc::new(Store::new());
    let (rss_start, _) = memory_kib();
    println!(
        "ops_stress: {TARGETS} targets, grace {:?}, backoff {:?}..{:?}, {} retries; fixed {rate:.0} ops/s for {fixed_seconds:.1} s, then flat out for {flat_seconds:.1} s",
        config.grace_period, config.backoff_base, config.backoff_cap, config.default_max_retries
    );

    let stop = Arc::new(AtomicBool::new(false));
    let every = Duration::from_secs_f64((seconds / 12.0).clamp(0.5, 5.0));
    let reporter = tokio::spawn(report(ops.clone(), stop.clone(), every));

    // Fixed rate: one tick per millisecond, rate/1000 operations per tick.
    let fixed = run_phase("fixed rate", &ops, fixed_seconds, async {
        let mut rng = Rng::new();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed().as_secs_f64() < fixed_seconds {
            tick.tick().await;
            let due = (start.elapsed().as_secs_f64() * rate) as u64;
            while sent < due {
                submit_one(&ops, &store, &mut rng);
                sent += 1;
            }
        }
    })
    .await;
    let (rss_flat_start, _) = memory_kib();

    // Flat out: two submitters, as fast as the coordinator resolves.
    let flat = run_phase("flat out", &ops, flat_seconds, async {
        let deadline = Instant::now() + Duration::from_secs_f64(flat_seconds);
        let submitters: Vec<_> = (0..2)
            .map(|_| {
                let (ops, store) = (ops.clone(), store.clone());
                tokio::spawn(async move {
                    let mut rng = Rng::new();
                    while Instant::now() < deadline {
                        for _ in 0..256 {
                            submit_one(&ops, &store, &mut rng);
                        }
                        let m = ops.metrics();
                        if m.submitted - resolved(&m) > MAX_IN_FLIGHT {
                            tokio::time::sleep(Duration::from_micros(200)).await;
                        } else {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for s in submitters {
            s.await.expect("submitter panicked");
        }
    })
    .await;

    // Let retries and the last executions finish.
    let drain = Instant::now();
    while ops.metrics().pending + ops.metrics().executing > 0
        && drain.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = reporter.await;

    let m = ops.metrics();
    let (rss_end, hwm) = memory_kib();
    println!();
    fixed.print();
    flat.print();
    println!(
        "resolution  p50 {:.1} µs  p99 {:.1} µs  max {:.1} µs  ({} rounds)",
        m.resolution.p50.as_nanos() as f64 / 1e3,
        m.resolution.p99.as_nanos() as f64 / 1e3,
        m.resolution.max.as_nanos() as f64 / 1e3,
        m.resolution.count
    );
    println!(
        "operations  submitted {}  completed {}  rejected {}  cancelled {}  failed attempts {}  retried {}  conflicts {}  grace saves {}  executing protections {}",
        m.submitted,
        m.completed,
        m.rejected,
        m.cancelled,
        m.failed,
        m.retried,
        m.conflicts,
        m.grace_period_saves,
        m.executing_protections
    );
    println!(
        "events      {} seen by a pattern subscriber",
        events.load(Ordering::Relaxed)
    );
    println!(
        "memory      rss {:.1} MiB at start, {:.1} MiB when flat out began, {:.1} MiB at the end; peak (VmHWM) {:.1} MiB",
        mib(rss_start),
        mib(rss_flat_start),
        mib(rss_end),
        mib(hwm)
    );
    println!("health      {}", ops.health());
    Ok(())
}
