//! The Redis transport under faults, against a real `redis-server` started per test:
//! poison pills (an entry whose handling panics, an entry handed out past the
//! redelivery cap, by the reader and by the reclaimer), handlers that fail (not
//! redeliveries), and a server restarted empty.
//!
//! Skipped with a message on stderr when `redis-server` is not installed (failed when
//! `CI` is set).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use herald::prelude::*;
use herald::transport::{PoisonedEntry, DEFAULT_MAX_DELIVERIES, TRANSPORT_HANDLER};
use herald::{Bus, Uuid};
use herald_tests::redis_server::RedisServer;
use redis_common::{bus, redis, unique, wait_until, Seen};
use serde::{Deserialize, Deserializer, Serialize};

#[path = "common/redis.rs"]
mod redis_common;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "test.redis_faults.ping")]
struct Ping {
    n: u32,
}

/// An event whose payload panics when read back with `n == 13`: a bug in a user's
/// `Deserialize`, met by the receiving process only.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "test.redis_faults.touchy")]
struct Touchy {
    #[serde(deserialize_with = "unlucky")]
    n: u32,
}

fn unlucky<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    assert_ne!(n, 13, "thirteen is unlucky");
    Ok(n)
}

/// The poisoned-entry dead letters of `bus`.
fn poisoned(bus: &Bus) -> Vec<PoisonedEntry> {
    bus.dead_letters()
        .into_iter()
        .filter(|d| d.handler() == TRANSPORT_HANDLER)
        .filter_map(|d| d.record().downcast_ref::<PoisonedEntry>().cloned())
        .collect()
}

/// The first line of `XPENDING stream group - + 10`: `*0` when nothing is pending
/// (read and not acknowledged).
fn pending(server: &RedisServer, stream: &str, group: &str) -> String {
    server
        .command(&["XPENDING", stream, group, "-", "+", "10"])
        .expect("XPENDING")
}

/// A record's JSON, as a publisher puts it on the stream.
fn json_of(n: u32) -> String {
    let bus = Bus::builder()
        .registered_handlers(false)
        .build()
        .expect("a bus");
    let id = bus.emit(Ping { n });
    bus.get(id).expect("in history").to_json()
}

/// Adds an entry holding `json` to `stream`; its id.
fn add(server: &RedisServer, stream: &str, json: &str) -> String {
    let origin = Uuid::new_v4().to_string();
    let id = server
        .command(&["XADD", stream, "*", "origin", &origin, "json", json])
        .expect("XADD");
    assert!(!id.starts_with('-'), "XADD refused: {id}");
    id
}

/// Has `consumer` of `group` read the entries of `stream` as a consumer that then
/// crashed would: the first `first` new ones once, then (`again` times) its oldest
/// pending one again, as a restarted consumer does. Redis counts each.
fn crash_reads(server: &RedisServer, stream: &str, group: &str, consumer: &str, again: u32) {
    let read = |from: &str| {
        server
            .command(&[
                "XREADGROUP",
                "GROUP",
                group,
                consumer,
                "COUNT",
                "1",
                "STREAMS",
                stream,
                from,
            ])
            .expect("XREADGROUP")
    };
    assert_eq!(read(">"), "*1", "the first entry, delivered once");
    assert_eq!(read(">"), "*1", "the second entry, delivered once");
    for _ in 0..again {
        assert_eq!(read("0"), "*1", "the first entry again");
    }
}

// ---- an entry whose handling panics ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_whose_payload_panics_when_read_is_dead_lettered_and_the_reader_goes_on() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stream = unique("panicky");
    let a = bus(redis(&server, &stream).node("a"));
    let b = bus(redis(&server, &stream).node("b"));
    let got = Seen::default();
    let seen = got.clone();
    let _sub = b.subscribe::<Touchy>(move |ev| seen.push(ev.payload().n));

    let unlucky = a.emit(Touchy { n: 13 });
    for n in 1..4 {
        a.emit(Touchy { n });
    }
    wait_until(
        || format!("got {:?}, poisoned {:?}", got.sorted(), poisoned(&b)),
        || got.len() >= 3 && !poisoned(&b).is_empty(),
    )
    .await;
    assert_eq!(got.sorted(), [1, 2, 3]);
    let letters = poisoned(&b);
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert!(
        letter.reason.contains("panicked") && letter.reason.contains("thirteen is unlucky"),
        "{letter:?}"
    );
    assert!(letter.entry.contains(&unlucky.to_string()), "{letter:?}");
    assert!(letter.entry_id.is_some(), "{letter:?}");
    let stats = b.transport_stats().expect("stats");
    assert_eq!((stats.poisoned, stats.panics), (1, 1), "{stats:?}");
    // Acknowledged with the rest: nothing stays pending in b's group.
    let group = format!("{stream}:node:b");
    wait_until(
        || pending(&server, &stream, &group),
        || pending(&server, &stream, &group) == "*0",
    )
    .await;
}

// ---- the redelivery cap ---------------------------------------------------------------

/// A consumer that crashed while handling an entry `again + 1` times; the bus that
/// takes its name with `cap` reads the entry once more.
async fn after_crashes(cap: Option<u64>, again: u32) -> (Vec<u32>, Vec<PoisonedEntry>, String) {
    let Some(server) = RedisServer::start() else {
        return (Vec::new(), Vec::new(), String::new());
    };
    let stream = unique("cap");
    let group = format!("{stream}:node:fragile");
    server
        .command(&["XGROUP", "CREATE", &stream, &group, "$", "MKSTREAM"])
        .expect("XGROUP CREATE");
    let first = add(&server, &stream, &json_of(1));
    add(&server, &stream, &json_of(2));
    crash_reads(&server, &stream, &group, "fragile", again);

    let mut options = redis(&server, &stream).node("fragile");
    if let Some(cap) = cap {
        options = options.max_deliveries(cap);
    }
    let b = bus(options);
    let got = Seen::default();
    let seen = got.clone();
    let _sub = b.subscribe::<Ping>(move |ev| seen.push(ev.payload().n));
    wait_until(
        || format!("got {:?}, poisoned {:?}", got.sorted(), poisoned(&b)),
        || got.len() + poisoned(&b).len() >= 2,
    )
    .await;
    wait_until(
        || pending(&server, &stream, &group),
        || pending(&server, &stream, &group) == "*0",
    )
    .await;
    let stats = b.transport_stats().expect("stats");
    assert_eq!(stats.poisoned as usize, poisoned(&b).len(), "{stats:?}");
    (got.sorted(), poisoned(&b), first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_handed_out_past_the_cap_is_dead_lettered_and_the_next_one_delivered() {
    // Read once, then 5 times again: the reader's read is its 7th delivery.
    let (got, letters, first) = after_crashes(None, 5).await;
    if first.is_empty() {
        return; // no redis-server
    }
    assert_eq!(DEFAULT_MAX_DELIVERIES, 5);
    assert_eq!(got, [2], "the entry after the poison pill is delivered");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].entry_id.as_deref(), Some(first.as_str()));
    assert_eq!(letters[0].deliveries, 7);
    assert!(
        letters[0].reason.contains("more than the cap of 5"),
        "{letters:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_within_the_cap_is_delivered() {
    // The same history, with a cap of 7 (the reader's read is the 7th): delivered.
    let (got, letters, first) = after_crashes(Some(7), 5).await;
    if first.is_empty() {
        return;
    }
    assert_eq!(got, [1, 2]);
    assert!(letters.is_empty(), "{letters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reclaimer_dead_letters_an_entry_handed_out_past_the_cap() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stream = unique("cap-shared");
    let group = format!("{stream}:shared");
    server
        .command(&["XGROUP", "CREATE", &stream, &group, "$", "MKSTREAM"])
        .expect("XGROUP CREATE");
    let first = add(&server, &stream, &json_of(1));
    add(&server, &stream, &json_of(2));
    // A consumer of the shared group took both and crashed; it had re-read the first 5
    // times. Both go to whoever takes them over.
    crash_reads(&server, &stream, &group, "ghost", 5);

    let rescuer = bus(redis(&server, &stream)
        .node("rescuer")
        .claim_idle(Duration::from_millis(100)));
    let got = Seen::default();
    let seen = got.clone();
    let _sub = rescuer
        .on::<Ping>()
        .shared(true)
        .handle(move |ev| seen.push(ev.payload().n));
    wait_until(
        || format!("got {:?}, poisoned {:?}", got.sorted(), poisoned(&rescuer)),
        || got.len() + poisoned(&rescuer).len() >= 2,
    )
    .await;
    assert_eq!(got.sorted(), [2]);
    let letters = poisoned(&rescuer);
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].entry_id.as_deref(), Some(first.as_str()));
    // Taken over by the reclaimer: its 7th delivery.
    assert_eq!(letters[0].deliveries, 7);
    let stats = rescuer.transport_stats().expect("stats");
    assert!(stats.reclaimed >= 2 && stats.poisoned == 1, "{stats:?}");
}

// ---- handler failures are not redeliveries -------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_panicking_handlers_use_their_retries_and_the_entry_is_acknowledged_once() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stream = unique("handler-fails");
    let a = bus(redis(&server, &stream).node("a"));
    let b = bus(redis(&server, &stream).node("b"));
    let (failing, panicking) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let calls = failing.clone();
    let _fails = b
        .on::<Ping>()
        .name("fails")
        .retry(2)
        .backoff(Duration::from_millis(1))
        .handle(move |_| -> Result<(), String> {
            calls.fetch_add(1, Ordering::Relaxed);
            Err("always".into())
        });
    let calls = panicking.clone();
    let _panics = b
        .on::<Ping>()
        .name("panics")
        .retry(1)
        .backoff(Duration::from_millis(1))
        .handle(move |_| {
            calls.fetch_add(1, Ordering::Relaxed);
            if calls.load(Ordering::Relaxed) > 0 {
                panic!("always");
            }
        });
    a.emit(Ping { n: 1 });
    let letters = || {
        b.dead_letters()
            .into_iter()
            .map(|d| (d.handler().to_owned(), d.attempts()))
            .collect::<Vec<_>>()
    };
    wait_until(|| format!("{:?}", letters()), || letters().len() >= 2).await;
    let mut got = letters();
    got.sort();
    assert_eq!(got, [("fails".to_owned(), 3), ("panics".to_owned(), 2)]);
    // No redelivery: once the handlers finished, the entry was acknowledged.
    let group = format!("{stream}:node:b");
    wait_until(
        || pending(&server, &stream, &group),
        || pending(&server, &stream, &group) == "*0",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        (
            failing.load(Ordering::Relaxed),
            panicking.load(Ordering::Relaxed)
        ),
        (3, 2)
    );
    let stats = b.transport_stats().expect("stats");
    assert_eq!((stats.delivered, stats.poisoned), (1, 0), "{stats:?}");
    assert!(poisoned(&b).is_empty());
}

// ---- a server restarted empty --------------------------------------------------------

/// The `n` of every record the stream holds now.
fn held(server: &RedisServer, stream: &str) -> std::collections::BTreeSet<u32> {
    let flat = server
        .command_flat(&["XRANGE", stream, "-", "+"])
        .expect("XRANGE");
    flat.windows(2)
        .filter(|w| w[0] == "json")
        .filter_map(|w| {
            let record: serde_json::Value = serde_json::from_str(&w[1]).ok()?;
            u32::try_from(record["payload"]["n"].as_u64()?).ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restarted_empty_loses_nothing_its_new_stream_holds() {
    const EVENTS: u32 = 5_000;
    // No persistence: the restarted server has neither the stream nor its groups.
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let stream = unique("reset");
    let producer = bus(redis(&server, &stream).node("producer"));
    let consumer = bus(redis(&server, &stream).node("consumer"));
    let got = Seen::default();
    let seen = got.clone();
    let _sub = consumer.subscribe::<Ping>(move |ev| seen.push(ev.payload().n));

    // About 5,000 events a second, while the server goes down and comes back.
    let sent = Arc::new(AtomicU32::new(0));
    let (p, s) = (producer.clone(), sent.clone());
    let publishing = tokio::spawn(async move {
        for n in 0..EVENTS {
            p.emit(Ping { n });
            s.store(n + 1, Ordering::Release);
            if n % 5 == 4 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let reached = |n: u32| {
        let sent = sent.clone();
        move || sent.load(Ordering::Acquire) >= n
    };
    wait_until(|| "a third published".into(), reached(EVENTS / 3)).await;
    tokio::task::block_in_place(|| server.kill());
    wait_until(|| "half published".into(), reached(EVENTS / 2)).await;
    tokio::task::block_in_place(|| server.restart());
    publishing.await.expect("the producer task");
    producer.flush().await;

    let held = held(&server, &stream);
    assert!(
        held.len() >= (EVENTS / 2) as usize,
        "the new stream holds at least what was published after the kill: {}",
        held.len()
    );
    let missing = || held.difference(&got.set()).count();
    wait_until(
        || {
            format!(
                "{} of the {} held entries not delivered",
                missing(),
                held.len()
            )
        },
        || missing() == 0,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(got.len(), got.set().len(), "each event delivered once");
    let stats = consumer.transport_stats().expect("stats");
    assert!(stats.stream_resets >= 1, "{stats:?}");
    eprintln!(
        "restart: {} held by the new server, 0 of them lost; {} delivered in all of {EVENTS}; {stats:?}",
        held.len(),
        got.len()
    );
}
