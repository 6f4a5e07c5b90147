//! The Redis Streams transport against a real `redis-server` (started per test on a
//! free loopback port): buses and processes exchanging events, nesting across them,
//! `shared` subscriptions, a consumer that dies mid-stream, a server restart, and
//! entries that do not decode.
//!
//! Skipped with a message on stderr when `redis-server` is not installed (failed when
//! `CI` is set).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use herald::prelude::*;
use herald::transport::{Redis, RejectedEntry, TRANSPORT_HANDLER};
use herald::{Record, Uuid};
use herald_tests::redis_server::RedisServer;
use redis_common::{bus, redis, unique, wait_until, Seen, PATIENCE};
use serde::{Deserialize, Serialize};

#[path = "common/redis.rs"]
mod redis_common;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "test.redis.ping")]
struct Ping {
    n: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "test.redis.pong")]
struct Pong {
    n: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "test.redis.job")]
struct Job {
    n: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "test.redis.stop")]
struct Stop;

fn find<T: herald::Event>(records: &[Record], pred: impl Fn(&T) -> bool) -> Option<Record> {
    records
        .iter()
        .find(|r| r.downcast_ref::<T>().is_some_and(&pred))
        .cloned()
}

// ---- two buses of one process ---------------------------------------------------------

#[instrument_events]
fn nested_ping() -> Uuid {
    herald::emit(Ping { n: 999 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buses_exchange_events_both_ways_and_keep_nesting() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stream = unique("exchange");
    let a = bus(redis(&server, &stream).node("a"));
    let b = bus(redis(&server, &stream).node("b"));

    let (a_pings, a_pongs, b_pings) = (Seen::default(), Seen::default(), Seen::default());
    let seen = a_pings.clone();
    let _a1 = a.subscribe::<Ping>(move |ev| seen.push(ev.payload().n));
    let seen = a_pongs.clone();
    let _a2 = a.subscribe::<Pong>(move |ev| seen.push(ev.payload().n));
    let seen = b_pings.clone();
    let _b1 = b.subscribe::<Ping>(move |ev| {
        seen.push(ev.payload().n);
        herald::emit(Pong { n: ev.payload().n });
    });

    for n in 0..20 {
        a.emit(Ping { n });
    }
    for n in 100..110 {
        b.emit(Ping { n });
    }
    let ping_id = herald::with_bus(&a, nested_ping);

    // B's handler ran for A's 21 pings and its own 10, and each of its pongs reached A.
    let expected: Vec<u32> = (0..20).chain(100..110).chain([999]).collect();
    wait_until(
        || {
            format!(
                "a pings {:?}, a pongs {:?}",
                a_pings.sorted(),
                a_pongs.sorted()
            )
        },
        || a_pings.len() >= 31 && a_pongs.len() >= 31 && b_pings.len() >= 31,
    )
    .await;
    a.flush().await;
    b.flush().await;
    assert_eq!(a_pings.sorted(), expected);
    assert_eq!(b_pings.sorted(), expected);
    assert_eq!(a_pongs.sorted(), expected);

    // The pong B emitted while handling A's nested ping nests under that ping, on both
    // sides of the wire.
    let ping = a.get(ping_id).expect("the nested ping in A's history");
    assert!(ping.parent_id().is_some(), "the ping is inside a call");
    assert_eq!(b.get(ping_id).map(|r| r.to_json()), Some(ping.to_json()));
    for history in [b.history(), a.history()] {
        let pong = find::<Pong>(&history, |p| p.n == 999).expect("the reply in history");
        assert_eq!(pong.causation_id(), Some(ping_id));
        assert_eq!(pong.root_id(), ping.root_id());
        assert_eq!(pong.correlation_id(), ping.correlation_id());
        assert_eq!(pong.parent_id(), Some(ping_id));
    }

    let stats = a.transport_stats().unwrap();
    assert_eq!((stats.lost, stats.buffered), (0, 0));
    assert_eq!(stats.sent, stats.published);
    assert!(stats.delivered >= 31, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_subscription_runs_once_across_buses() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stream = unique("shared");
    let a = bus(redis(&server, &stream).node("a"));
    let b = bus(redis(&server, &stream).node("b"));

    let (shared_a, shared_b) = (Seen::default(), Seen::default());
    let (all_a, all_b) = (Seen::default(), Seen::default());
    let mut subs = Vec::new();
    for (bus, shared, all) in [(&a, &shared_a, &all_a), (&b, &shared_b, &all_b)] {
        let seen = shared.clone();
        subs.push(
            bus.on::<Job>()
                .shared(true)
                .handle(move |ev| seen.push(ev.payload().n)),
        );
        let seen = all.clone();
        subs.push(bus.subscribe::<Job>(move |ev| seen.push(ev.payload().n)));
    }

    for n in 0..200 {
        a.emit(Job { n });
    }
    let total = || shared_a.len() + shared_b.len();
    wait_until(
        || {
            format!(
                "shared {} + {}, all {} / {}",
                shared_a.len(),
                shared_b.len(),
                all_a.len(),
                all_b.len()
            )
        },
        || total() >= 200 && all_a.len() >= 200 && all_b.len() >= 200,
    )
    .await;
    a.flush().await;
    b.flush().await;
    // Give a duplicate a chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut once: Vec<u32> = shared_a.sorted();
    once.extend(shared_b.sorted());
    once.sort_unstable();
    assert_eq!(
        once,
        (0..200).collect::<Vec<_>>(),
        "each job once, across both"
    );
    assert_eq!(all_a.sorted(), (0..200).collect::<Vec<_>>());
    assert_eq!(all_b.sorted(), (0..200).collect::<Vec<_>>());
    eprintln!(
        "shared handler ran {} times on a, {} on b",
        shared_a.len(),
        shared_b.len()
    );
}

// ---- processes ------------------------------------------------------------------------

const ENV_ROLE: &str = "HERALD_TEST_REDIS_ROLE";
const ENV_URL: &str = "HERALD_TEST_REDIS_URL";
const ENV_STREAM: &str = "HERALD_TEST_REDIS_STREAM";
/// The crashing child exits in the middle of handling its this-many-th job.
const CRASH_AFTER: u32 = 5;
const CRASH_CODE: i32 = 42;

/// This test binary, run again as a child process for one `#[ignore]`d test.
struct ChildProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildProcess {
    fn spawn(test: &str, role: &str, server: &RedisServer, stream: &str) -> ChildProcess {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut child = Command::new(exe)
            .args([
                "--exact",
                test,
                "--nocapture",
                "--ignored",
                "--test-threads=1",
            ])
            .env(ENV_ROLE, role)
            .env(ENV_URL, server.url())
            .env(ENV_STREAM, stream)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start a child process");
        let stdout = child.stdout.take().expect("the child's stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildProcess { child, lines }
    }

    /// Waits for a line ending with `line` (the test harness may have started it),
    /// keeping the lines read before it.
    fn wait_for(&self, line: &str, before: &mut Vec<String>) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.ends_with(line) => return,
                Ok(l) => before.push(l),
                Err(e) => panic!("child never printed {line:?} ({e}); it printed {before:?}"),
            }
        }
    }

    /// Waits for the child to exit; returns its status and the rest of its output.
    fn wait_exit(&mut self) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                break status;
            }
            assert!(Instant::now() < deadline, "child did not exit");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            rest.push(line);
        }
        (status, rest)
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_without_shared_subscriptions_leaves_shared_records_to_others() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stream = unique("leave-shared");
    let producer = bus(redis(&server, &stream).node("producer"));
    let worker = bus(redis(&server, &stream).node("worker"));
    let done = Seen::default();
    let seen = done.clone();
    let _work = worker
        .on::<Job>()
        .shared(true)
        .handle(move |ev| seen.push(ev.payload().n));

    for n in 0..50 {
        producer.emit(Job { n });
    }
    wait_until(|| format!("worker did {}", done.len()), || done.len() >= 50).await;
    assert_eq!(done.sorted(), (0..50).collect::<Vec<_>>());

    // A shared subscription added later makes the producer take its share.
    let late = Seen::default();
    let seen = late.clone();
    let _late = producer
        .on::<Job>()
        .shared(true)
        .handle(move |ev| seen.push(ev.payload().n));
    for n in 50..250 {
        producer.emit(Job { n });
    }
    wait_until(
        || format!("worker {} + producer {}", done.len(), late.len()),
        || done.len() + late.len() >= 250,
    )
    .await;
    let mut all = done.sorted();
    all.extend(late.sorted());
    all.sort_unstable();
    assert_eq!(all, (0..250).collect::<Vec<_>>(), "each job once");
}

/// The server URL and stream a child was started with, when it runs as `role`.
fn child_env(role: &str) -> Option<(String, String)> {
    if std::env::var(ENV_ROLE).ok()? != role {
        return None;
    }
    Some((
        std::env::var(ENV_URL).ok()?,
        std::env::var(ENV_STREAM).ok()?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_exchange_events_both_ways() {
    const PINGS: u32 = 50;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stream = unique("processes");
    let parent = bus(redis(&server, &stream).node("parent"));
    let pongs = Seen::default();
    let seen = pongs.clone();
    let _pongs = parent.subscribe::<Pong>(move |ev| seen.push(ev.payload().n));

    let mut child = ChildProcess::spawn("child_echo", "echo", &server, &stream);
    child.wait_for("READY", &mut Vec::new());
    for n in 0..PINGS {
        parent.emit(Ping { n });
    }
    wait_until(
        || format!("pongs {:?}", pongs.sorted()),
        || pongs.len() >= PINGS as usize,
    )
    .await;
    parent.emit(Stop);
    parent.flush().await;

    let (status, lines) = child.wait_exit();
    assert!(status.success(), "child failed: {status}; output {lines:?}");
    assert!(
        lines.iter().any(|l| l.ends_with(&format!("PINGS {PINGS}"))),
        "the child handled each ping once: {lines:?}"
    );
    assert_eq!(pongs.sorted(), (0..PINGS).collect::<Vec<_>>());
}

/// Run by `processes_exchange_events_both_ways` in a child process: answers each ping
/// with a pong until it gets a stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of processes_exchange_events_both_ways"]
async fn child_echo() {
    let Some((url, stream)) = child_env("echo") else {
        return;
    };
    let bus = bus(Redis::builder(url).stream(stream).node("echo"));
    let pings = Arc::new(AtomicU32::new(0));
    let seen = pings.clone();
    let _ping = bus.subscribe::<Ping>(move |ev| {
        seen.fetch_add(1, Ordering::Relaxed);
        herald::emit(Pong { n: ev.payload().n });
    });
    let stopped = Arc::new(AtomicBool::new(false));
    let stop = stopped.clone();
    let _stop = bus.subscribe::<Stop>(move |_| stop.store(true, Ordering::Relaxed));
    println!("READY");
    wait_until(|| "a stop".into(), || stopped.load(Ordering::Relaxed)).await;
    bus.flush().await;
    println!("PINGS {}", pings.load(Ordering::Relaxed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_a_crashed_consumer_are_reclaimed() {
    const JOBS: u32 = 20;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stream = unique("crash");
    // The producer takes no share of the shared group's entries: the child gets them all.
    let producer = bus(redis(&server, &stream).node("producer"));
    let mut child = ChildProcess::spawn("child_crasher", "crasher", &server, &stream);
    let mut child_lines = Vec::new();
    child.wait_for("READY", &mut child_lines);
    for n in 0..JOBS {
        producer.emit(Job { n });
    }
    producer.flush().await;
    let (status, rest) = child.wait_exit();
    child_lines.extend(rest);
    assert_eq!(status.code(), Some(CRASH_CODE), "{child_lines:?}");
    let by_child: Vec<u32> = child_lines
        .iter()
        .filter_map(|l| l.split("HANDLED ").nth(1)?.parse().ok())
        .collect();
    assert_eq!(by_child.len(), CRASH_AFTER as usize, "{child_lines:?}");
    // The child exited while handling its last job, before acknowledging its batch.
    let last = *by_child.last().unwrap();

    // A rescuer joins the shared group: it reads what nobody read, and takes over what
    // the dead consumer read but never acknowledged.
    let rescuer = bus(redis(&server, &stream)
        .node("rescuer")
        .claim_idle(Duration::from_millis(200)));
    let rescued = Seen::default();
    let seen = rescued.clone();
    let _sub = rescuer
        .on::<Job>()
        .shared(true)
        .handle(move |ev| seen.push(ev.payload().n));

    let everyone: BTreeSet<u32> = (0..JOBS).collect();
    wait_until(
        || format!("child {by_child:?}, rescuer {:?}", rescued.sorted()),
        || {
            let mut all = rescued.set();
            all.extend(&by_child);
            all == everyone && rescued.set().contains(&last)
        },
    )
    .await;
    let stats = rescuer.transport_stats().unwrap();
    assert!(stats.reclaimed > 0, "{stats:?}");
}

/// Run by `entries_of_a_crashed_consumer_are_reclaimed` in a child process: a `shared`
/// consumer that exits in the middle of its fifth job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of entries_of_a_crashed_consumer_are_reclaimed"]
async fn child_crasher() {
    let Some((url, stream)) = child_env("crasher") else {
        return;
    };
    let bus = bus(Redis::builder(url).stream(stream).node("crasher"));
    let handled = Arc::new(AtomicU32::new(0));
    let _sub = bus.on::<Job>().shared(true).handle(move |ev| {
        println!("HANDLED {}", ev.payload().n);
        if handled.fetch_add(1, Ordering::Relaxed) + 1 == CRASH_AFTER {
            std::process::exit(CRASH_CODE);
        }
    });
    println!("READY");
    tokio::time::sleep(PATIENCE).await;
    panic!("the jobs never came");
}

// ---- the server goes away -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_while_the_server_is_down_arrive_after_it_restarts() {
    // With an append-only file: the restarted server keeps the stream and its groups.
    let Some(mut server) = RedisServer::builder().append_only(true).start() else {
        return;
    };
    let stream = unique("restart");
    let a = bus(redis(&server, &stream).node("a"));
    let b = bus(redis(&server, &stream).node("b"));
    let got = Seen::default();
    let seen = got.clone();
    let _sub = b.subscribe::<Ping>(move |ev| seen.push(ev.payload().n));

    for n in 0..50 {
        a.emit(Ping { n });
    }
    wait_until(|| format!("before: {:?}", got.sorted()), || got.len() >= 50).await;

    server.kill();
    for n in 50..100 {
        a.emit(Ping { n });
    }
    let stats = a.transport_stats().unwrap();
    assert!(stats.buffered > 0, "nothing can be sent now: {stats:?}");
    server.restart();

    wait_until(|| format!("after: {:?}", got.sorted()), || got.len() >= 100).await;
    a.flush().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        got.sorted(),
        (0..100).collect::<Vec<_>>(),
        "each event once"
    );

    let a_stats = a.transport_stats().unwrap();
    let b_stats = b.transport_stats().unwrap();
    assert_eq!((a_stats.lost, a_stats.buffered), (0, 0), "{a_stats:?}");
    assert!(a_stats.sent >= 100, "{a_stats:?}");
    assert!(a_stats.reconnects > 0, "{a_stats:?}");
    assert!(b_stats.reconnects > 0, "{b_stats:?}");
}

// ---- entries that do not decode -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_entries_are_dead_lettered_and_later_events_arrive() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stream = unique("malformed");
    let a = bus(redis(&server, &stream).node("a"));
    let b = bus(redis(&server, &stream).node("b"));
    let got = Seen::default();
    let seen = got.clone();
    let _sub = b.subscribe::<Ping>(move |ev| seen.push(ev.payload().n));

    // A record of a type nobody registered: a real record's JSON under another name.
    let id = a.emit(Ping { n: 1 });
    let unknown = a
        .get(id)
        .unwrap()
        .to_json()
        .replace("test.redis.ping", "test.redis.nobody_knows_me");
    let origin = Uuid::new_v4().to_string();
    let entries: [&[&str]; 3] = [
        &["origin", &origin, "json", "not json"],
        &["origin", &origin, "json", &unknown],
        &["something", "else"],
    ];
    for fields in entries {
        let mut args = vec!["XADD", stream.as_str(), "*"];
        args.extend_from_slice(fields);
        let reply = server.command(&args).expect("XADD");
        assert!(!reply.starts_with('-'), "XADD refused: {reply}");
    }
    a.emit(Ping { n: 2 });

    let rejected = || {
        b.dead_letters()
            .into_iter()
            .filter(|d| d.handler() == TRANSPORT_HANDLER)
            .map(|d| {
                assert!(!d.error().is_empty(), "a dead letter says why");
                let entry = d.record().downcast_ref::<RejectedEntry>();
                entry.expect("a rejected entry").entry.clone()
            })
            .collect::<BTreeSet<String>>()
    };
    wait_until(
        || format!("pings {:?}, rejected {:?}", got.sorted(), rejected()),
        || got.len() >= 2 && rejected().len() >= 3,
    )
    .await;
    let expected: BTreeSet<String> = ["not json".to_owned(), unknown, String::new()].into();
    assert_eq!(rejected(), expected);
    assert_eq!(got.sorted(), [1, 2]);
    assert!(b.transport_stats().unwrap().rejected >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_with_a_malformed_timestamp_is_dead_lettered_and_later_events_arrive() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stream = unique("bad-time");
    let a = bus(redis(&server, &stream).node("a"));
    let b = bus(redis(&server, &stream)
        .node("b")
        .claim_idle(Duration::from_millis(200)));
    let got = Seen::default();
    let seen = got.clone();
    let _sub = b.subscribe::<Ping>(move |ev| seen.push(ev.payload().n));

    // A real record whose timestamp's offset holds a two-byte character where a
    // byte-indexed parser slices.
    let id = a.emit(Ping { n: 1 });
    let mut value: serde_json::Value = serde_json::from_str(&a.get(id).unwrap().to_json()).unwrap();
    value["id"] = serde_json::json!(Uuid::new_v4());
    value["timestamp"] = serde_json::json!("2026-01-01T00:00:00+0\u{e9}00");
    let poison = value.to_string();
    let origin = Uuid::new_v4().to_string();
    let reply = server
        .command(&["XADD", &stream, "*", "origin", &origin, "json", &poison])
        .expect("XADD");
    assert!(!reply.starts_with('-'), "XADD refused: {reply}");
    for n in 2..5 {
        a.emit(Ping { n });
    }

    let rejected = || {
        b.dead_letters()
            .into_iter()
            .filter_map(|d| {
                let entry = d.record().downcast_ref::<RejectedEntry>()?;
                (entry.entry == poison).then(|| d.error().to_owned())
            })
            .collect::<Vec<String>>()
    };
    wait_until(
        || format!("pings {:?}, rejected {:?}", got.sorted(), rejected()),
        || got.len() >= 4 && !rejected().is_empty(),
    )
    .await;
    assert_eq!(got.sorted(), [1, 2, 3, 4]);
    let reasons = rejected();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("timestamp"), "{reasons:?}");
    // The reclaimer runs too (every 100 ms here) and stays up: a later event arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.emit(Ping { n: 5 });
    wait_until(|| format!("pings {:?}", got.sorted()), || got.len() >= 5).await;
}

// ---- a bus without a runtime, and its end ---------------------------------------------

/// Waits (blocking the thread) until `done` holds; fails after [`PATIENCE`].
fn wait_blocking(what: impl Fn() -> String, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting: {}", what());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn buses_built_outside_a_runtime_work_and_clean_up_when_dropped() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stream = unique("no-runtime");
    let groups = || server.command(&["XINFO", "GROUPS", &stream]).unwrap();
    let clients = || {
        let list = server.command(&["CLIENT", "LIST"]).unwrap();
        list.lines().count().saturating_sub(1) // not the connection asking
    };
    // Generated node names: the groups of these buses can never be resumed.
    let a = bus(redis(&server, &stream));
    let b = bus(redis(&server, &stream));
    assert_eq!(groups(), "*3", "a's, b's and the shared group");
    let got = Seen::default();
    let seen = got.clone();
    let sub = b.subscribe::<Ping>(move |ev| seen.push(ev.payload().n));
    for n in 0..10 {
        a.emit(Ping { n });
    }
    wait_blocking(|| format!("{:?}", got.sorted()), || got.len() >= 10);
    assert_eq!(got.sorted(), (0..10).collect::<Vec<_>>());

    drop((a, b, sub));
    // Their tasks stop, close their connections and remove their own groups.
    wait_blocking(
        || format!("groups {}, clients {}", groups(), clients()),
        || groups() == "*1" && clients() == 0,
    );
}
