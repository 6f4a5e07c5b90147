//! Transports in one process: `InMemory` links buses as if each were a process, `Noop`
//! links nothing, and a hand-written transport drives the `Inbox` directly (decoding,
//! duplicates, bad entries, a dropped bus).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use herald::error::TransportError;
use herald::prelude::*;
use herald::transport::{
    Audience, InMemory, Inbox, Incoming, Noop, Outcome, PoisonedEntry, Transport, TRANSPORT_HANDLER,
};
use herald::{Bus, Envelope, Record};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "transport_test.ping")]
struct Ping {
    n: u32,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "transport_test.pong")]
struct Pong {
    n: u32,
}

/// Generic, so never registered by name: a receiving bus cannot decode it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "transport_test.unregistered")]
struct Unregistered<T> {
    value: T,
}

fn linked(link: &InMemory) -> Bus {
    Bus::builder()
        .registered_handlers(false)
        .transport(link.clone())
        .build()
        .unwrap()
}

fn counter() -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let c = Arc::new(AtomicUsize::new(0));
    (c.clone(), c)
}

#[tokio::test]
async fn every_linked_bus_gets_every_record_once_and_not_its_own() {
    let link = InMemory::new();
    let (a, b, c) = (linked(&link), linked(&link), linked(&link));
    let counts: Vec<_> = [&a, &b, &c]
        .iter()
        .map(|bus| {
            let (seen, s) = counter();
            let sub = bus.subscribe::<Ping>(move |_| {
                s.fetch_add(1, Ordering::Relaxed);
            });
            (seen, sub)
        })
        .collect();

    for n in 0..10 {
        a.emit(Ping { n });
    }
    b.emit(Ping { n: 100 });
    link.settle().await;

    // 11 pings in all, each handled once on every bus, the emitter included.
    for (seen, _) in &counts {
        assert_eq!(seen.load(Ordering::Relaxed), 11);
    }
    let stats = a.transport_stats().unwrap();
    assert_eq!((stats.published, stats.sent, stats.lost), (10, 10, 0));
    // a received b's ping (for everyone) and some shared turns; none were duplicates.
    assert_eq!(stats.duplicates, 0);
    assert_eq!(stats.delivered, stats.received);
}

#[tokio::test]
async fn remote_records_keep_their_identity_and_nest_what_handlers_emit() {
    let link = InMemory::new();
    let (a, b) = (linked(&link), linked(&link));
    // b answers every ping with a pong, emitted from inside the handler.
    let _answer = b.subscribe::<Ping>(|ev| {
        herald::emit(Pong { n: ev.payload().n });
    });
    let pongs: Arc<Mutex<Vec<Record>>> = Arc::default();
    let p = pongs.clone();
    let _collect = a.on::<Pong>().handle(move |ev: &Envelope<Pong>| {
        p.lock().unwrap().push(a_record(ev));
    });

    let ping = a.emit(Ping { n: 7 });
    link.settle().await;

    let remote = b.get(ping).expect("the remote ping is in b's history");
    let original = a.get(ping).unwrap();
    assert_eq!(remote.name(), "transport_test.ping");
    assert_eq!(remote.timestamp(), original.timestamp());
    assert_eq!(remote.root_id(), original.root_id());
    assert_eq!(remote.downcast_ref::<Ping>().unwrap().n, 7);

    let pongs = pongs.lock().unwrap();
    assert_eq!(pongs.len(), 1);
    let pong = &pongs[0];
    assert_eq!(pong.downcast_ref::<Pong>().unwrap().n, 7);
    assert_eq!(pong.causation_id(), Some(ping));
    assert_eq!(
        pong.parent_id(),
        Some(ping),
        "the pong nests under the remote ping"
    );
    assert_eq!(pong.correlation_id(), original.correlation_id());
}

/// The record behind an envelope seen by a handler, looked up in its bus's history.
fn a_record(ev: &Envelope<Pong>) -> Record {
    herald::current_bus()
        .get(ev.id())
        .expect("a keeps what it receives")
}

#[tokio::test]
async fn shared_subscriptions_run_once_across_the_link() {
    let link = InMemory::new();
    let buses = [linked(&link), linked(&link), linked(&link)];
    let (shared_runs, everyone_runs) = (Arc::new(AtomicUsize::new(0)), counter().0);
    let mut subs = Vec::new();
    let mut per_bus = Vec::new();
    for bus in &buses {
        let s = shared_runs.clone();
        subs.push(bus.on::<Ping>().shared(true).handle(move |_| {
            s.fetch_add(1, Ordering::Relaxed);
        }));
        let (mine, m) = counter();
        let e = everyone_runs.clone();
        subs.push(bus.subscribe::<Ping>(move |_| {
            m.fetch_add(1, Ordering::Relaxed);
            e.fetch_add(1, Ordering::Relaxed);
        }));
        per_bus.push(mine);
    }

    for n in 0..30 {
        buses[0].emit(Ping { n });
    }
    link.settle().await;

    assert_eq!(shared_runs.load(Ordering::Relaxed), 30);
    assert_eq!(everyone_runs.load(Ordering::Relaxed), 90);
    for mine in &per_bus {
        assert_eq!(mine.load(Ordering::Relaxed), 30);
    }
    assert!(buses[0]
        .subscriptions()
        .iter()
        .any(|s| s.shared && s.delivered > 0));
}

#[tokio::test]
async fn without_a_sharing_transport_shared_subscriptions_run_locally() {
    for bus in [
        Bus::builder()
            .registered_handlers(false)
            .transport(Noop)
            .build()
            .unwrap(),
        Bus::builder().registered_handlers(false).build().unwrap(),
    ] {
        let (seen, s) = counter();
        let _sub = bus.on::<Ping>().shared(true).handle(move |_| {
            s.fetch_add(1, Ordering::Relaxed);
        });
        bus.emit(Ping { n: 1 });
        assert_eq!(seen.load(Ordering::Relaxed), 1);
    }
}

#[tokio::test]
async fn an_unregistered_type_is_dead_lettered_by_the_receiver() {
    let link = InMemory::new();
    let (a, b) = (linked(&link), linked(&link));
    a.emit(Unregistered { value: 3_u8 });
    a.emit(Ping { n: 1 });
    link.settle().await;

    let letters = b.dead_letters();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.handler(), TRANSPORT_HANDLER);
    assert!(
        letter.error().contains("transport_test.unregistered"),
        "{}",
        letter.error()
    );
    let entry = letter
        .record()
        .payload_json()
        .get("entry")
        .and_then(|e| e.as_str().map(str::to_owned))
        .unwrap();
    assert!(
        entry.contains("\"value\":3"),
        "the entry is kept whole: {entry}"
    );
    // The good record after it arrived.
    assert_eq!(b.history().len(), 1);
    assert_eq!(b.transport_stats().unwrap().rejected, 1);
    assert_eq!(b.metrics().dead_lettered, 1);
}

/// Panics when read back with `n == 13`: a bug in a payload's own `Deserialize`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "transport_test.touchy")]
struct Touchy {
    #[serde(deserialize_with = "unlucky")]
    n: u32,
}

fn unlucky<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = <u32 as serde::Deserialize>::deserialize(d)?;
    assert_ne!(n, 13, "thirteen is unlucky");
    Ok(n)
}

#[tokio::test]
async fn an_entry_whose_handling_panics_is_poisoned_and_the_next_one_arrives() {
    let link = InMemory::new();
    let (a, b) = (linked(&link), linked(&link));
    let (seen, _) = counter();
    let s = seen.clone();
    let _sub = b.subscribe::<Touchy>(move |_| {
        s.fetch_add(1, Ordering::Relaxed);
    });
    a.emit(Touchy { n: 13 });
    a.emit(Touchy { n: 1 });
    link.settle().await;

    assert_eq!(
        seen.load(Ordering::Relaxed),
        1,
        "the entry after it arrived"
    );
    let letters = b.dead_letters();
    assert_eq!(letters.len(), 1);
    let poisoned = letters[0]
        .record()
        .downcast_ref::<PoisonedEntry>()
        .cloned()
        .expect("a poisoned entry");
    assert!(
        poisoned.reason.contains("thirteen is unlucky"),
        "{poisoned:?}"
    );
    assert_eq!((poisoned.deliveries, poisoned.entry_id), (1, None));
    let stats = b.transport_stats().unwrap();
    assert_eq!((stats.poisoned, stats.panics), (1, 1), "{stats:?}");
}

#[tokio::test]
async fn an_endpoint_starts_once() {
    let endpoint = Arc::new(InMemory::new());
    let first = Bus::builder()
        .registered_handlers(false)
        .transport(Shared(endpoint.clone()))
        .build();
    assert!(first.is_ok());
    let err = Bus::builder()
        .registered_handlers(false)
        .transport(Shared(endpoint))
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        herald::error::BuildError::Transport(TransportError::AlreadyStarted)
    ));
}

/// Lets one transport value be handed to two builders.
struct Shared(Arc<InMemory>);

impl Transport for Shared {
    fn start(&self, inbox: Inbox) -> Result<(), TransportError> {
        self.0.start(inbox)
    }
    fn publish(&self, record: &Record) {
        self.0.publish(record);
    }
}

/// A transport that only keeps its inbox, so the test can hand it entries.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Option<Inbox>>>);

impl Transport for Capture {
    fn start(&self, inbox: Inbox) -> Result<(), TransportError> {
        *self.0.lock().unwrap() = Some(inbox);
        Ok(())
    }
    fn publish(&self, _record: &Record) {}
}

impl Capture {
    fn inbox(&self) -> Inbox {
        self.0.lock().unwrap().clone().unwrap()
    }
}

#[tokio::test]
async fn the_inbox_decodes_deduplicates_and_rejects() {
    // Another bus makes a genuine record to send.
    let other = Bus::builder().registered_handlers(false).build().unwrap();
    let id = other.emit(Ping { n: 42 });
    let json = other.get(id).unwrap().to_json();

    let capture = Capture::default();
    let bus = Bus::builder()
        .registered_handlers(false)
        .transport(capture.clone())
        .build()
        .unwrap();
    let (seen, s) = counter();
    let _sub = bus.subscribe::<Ping>(move |ev| {
        s.fetch_add(ev.payload().n as usize, Ordering::Relaxed);
    });
    let inbox = capture.inbox();

    let first = inbox.deliver(Incoming::new(&json)).await;
    match first {
        Outcome::Delivered(d) => assert_eq!((d.id, d.handled), (id, 1)),
        other => panic!("expected a delivery, got {other:?}"),
    }
    assert_eq!(
        inbox.deliver(Incoming::new(&json)).await,
        Outcome::Duplicate
    );
    assert_eq!(seen.load(Ordering::Relaxed), 42);

    // Its own records, for everyone, are skipped; for shared subscriptions they are not.
    let own = Incoming::new(&json).origin(inbox.origin());
    assert_eq!(inbox.deliver(own).await, Outcome::Own);
    let shared = own.audience(Audience::Shared);
    assert!(matches!(inbox.deliver(shared).await, Outcome::Delivered(_)));

    for bad in ["not json", "{}", r#"{"name":"transport_test.nobody"}"#] {
        match inbox.deliver(Incoming::new(bad)).await {
            Outcome::Rejected(reason) => assert!(!reason.is_empty()),
            other => panic!("expected a rejection of {bad:?}, got {other:?}"),
        }
    }
    let letters = bus.dead_letters();
    assert_eq!(letters.len(), 3);
    assert!(letters.iter().all(|l| l.handler() == TRANSPORT_HANDLER));
    let stats = bus.transport_stats().unwrap();
    assert_eq!(
        (
            stats.received,
            stats.delivered,
            stats.duplicates,
            stats.rejected
        ),
        (7, 2, 1, 3)
    );

    drop(_sub);
    drop(bus);
    assert!(inbox.is_closed());
    assert_eq!(inbox.deliver(Incoming::new(&json)).await, Outcome::Closed);
}

static ASYNC_SUM: AtomicUsize = AtomicUsize::new(0);

#[on(Ping, group = "transport_test_async")]
async fn add_later(ping: &Ping) {
    let n = ping.n as usize;
    tokio::task::yield_now().await;
    ASYNC_SUM.fetch_add(n, Ordering::Relaxed);
}

#[tokio::test]
async fn async_handlers_finish_before_the_link_settles() {
    let link = InMemory::new();
    let a = linked(&link);
    let _b = Bus::builder()
        .group("transport_test_async")
        .transport(link.clone())
        .build()
        .unwrap();
    for n in 1..=4 {
        a.emit(Ping { n });
    }
    link.settle().await;
    assert_eq!(ASYNC_SUM.load(Ordering::Relaxed), 10);
}

#[tokio::test]
async fn a_dropped_bus_leaves_the_link() {
    let link = InMemory::new();
    let (a, b, c) = (linked(&link), linked(&link), linked(&link));
    let (seen, s) = counter();
    let _sub = c.subscribe::<Ping>(move |_| {
        s.fetch_add(1, Ordering::Relaxed);
    });
    drop(b);
    for n in 0..5 {
        a.emit(Ping { n });
    }
    link.settle().await;
    assert_eq!(seen.load(Ordering::Relaxed), 5);
    assert_eq!(a.transport_stats().unwrap().lost, 0);
}
