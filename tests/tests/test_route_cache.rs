//! Routes stay right while subscriptions change: from inside handlers (while the
//! emitting thread still uses the old routing table), across buses on one thread,
//! for generic event types (which route by hash, not by slot), and for counts kept
//! by more threads than a counter has shards.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use herald::prelude::*;
use herald::{Bus, SubscriptionHandle};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "cache.outer")]
struct Outer {
    n: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "cache.inner")]
struct Inner {
    n: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "cache.boxed")]
struct Boxed<T> {
    value: T,
}

fn quiet() -> Bus {
    Bus::builder()
        .registered_handlers(false)
        .history(0)
        .build()
        .unwrap()
}

#[test]
fn a_handler_that_subscribes_and_emits_sees_its_new_subscription() {
    let bus = quiet();
    let log = Arc::new(Mutex::new(Vec::new()));
    let added: Arc<Mutex<Vec<SubscriptionHandle>>> = Arc::default();

    let (b, l, a) = (bus.clone(), log.clone(), added.clone());
    let _outer = bus.subscribe::<Outer>(move |ev| {
        let n = ev.payload().n;
        l.lock().unwrap().push(format!("outer {n}"));
        // Change the routing table while this emission still routes with the old one,
        // then emit under the new one from inside the handler.
        let l2 = l.clone();
        a.lock().unwrap().push(b.subscribe::<Inner>(move |ev| {
            l2.lock().unwrap().push(format!("inner {}", ev.payload().n));
        }));
        b.emit(Inner { n });
        l.lock().unwrap().push(format!("outer {n} done"));
    });

    bus.emit(Outer { n: 1 });
    // One inner subscription now; the second outer run adds another.
    bus.emit(Outer { n: 2 });
    bus.emit(Inner { n: 3 });

    assert_eq!(
        *log.lock().unwrap(),
        [
            "outer 1",
            "inner 1",
            "outer 1 done",
            "outer 2",
            "inner 2",
            "inner 2",
            "outer 2 done",
            "inner 3",
            "inner 3",
        ]
    );
    assert_eq!(bus.metrics().delivered, 2 + 3 + 2);
}

#[test]
fn a_handler_that_unsubscribes_itself_mid_emission_runs_once() {
    let bus = quiet();
    let runs = Arc::new(AtomicUsize::new(0));
    let slot: Arc<Mutex<Option<SubscriptionHandle>>> = Arc::default();
    let (r, s, b) = (runs.clone(), slot.clone(), bus.clone());
    *slot.lock().unwrap() = Some(bus.subscribe::<Outer>(move |_| {
        r.fetch_add(1, Ordering::Relaxed);
        // Dropping the handle unsubscribes: the table this emission uses goes stale.
        drop(s.lock().unwrap().take());
        b.emit(Inner { n: 0 });
    }));
    bus.emit(Outer { n: 1 });
    bus.emit(Outer { n: 2 });
    assert_eq!(runs.load(Ordering::Relaxed), 1);
    assert!(bus.subscriptions().is_empty());
}

#[test]
fn two_buses_on_one_thread_keep_their_own_routes() {
    let (a, b) = (quiet(), quiet());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let _a = a.subscribe::<Outer>(move |ev| s.lock().unwrap().push(("a", ev.payload().n)));
    let s = seen.clone();
    let _b = b.subscribe::<Outer>(move |ev| s.lock().unwrap().push(("b", ev.payload().n)));
    for n in 0..3 {
        a.emit(Outer { n });
        b.emit(Outer { n: n + 10 });
    }
    // A third bus with no subscription between them: nothing leaks into it.
    let c = quiet();
    c.emit(Outer { n: 99 });
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("a", 0),
            ("b", 10),
            ("a", 1),
            ("b", 11),
            ("a", 2),
            ("b", 12)
        ]
    );
    assert_eq!(c.metrics().delivered, 0);
}

#[test]
fn generic_event_types_route_each_instantiation_apart() {
    let bus = quiet();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let _u = bus.subscribe::<Boxed<u32>>(move |ev| {
        s.lock()
            .unwrap()
            .push(format!("u32 {}", ev.payload().value));
    });
    let s = seen.clone();
    let _t = bus.subscribe::<Boxed<String>>(move |ev| {
        s.lock()
            .unwrap()
            .push(format!("string {}", ev.payload().value));
    });
    bus.emit(Boxed { value: 1_u32 });
    bus.emit(Boxed {
        value: "two".to_owned(),
    });
    bus.emit(Boxed { value: 3_u64 });
    bus.emit(Boxed { value: 4_u32 });
    assert_eq!(*seen.lock().unwrap(), ["u32 1", "string two", "u32 4"]);
}

#[test]
fn counts_stay_exact_with_more_threads_than_counter_shards() {
    const THREADS: usize = 40;
    const EACH: u64 = 500;
    let bus = quiet();
    let _sub = bus.subscribe::<Outer>(|_| {});
    // All alive at once: some threads own a shard, the rest share one.
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (bus, start) = (bus.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for n in 0..EACH {
                    bus.emit(Outer { n: n as u32 });
                }
                start.wait();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Threads one after another: each takes a shard a finished thread gave back.
    for _ in 0..THREADS {
        let bus = bus.clone();
        std::thread::spawn(move || {
            for n in 0..EACH {
                bus.emit(Outer { n: n as u32 });
            }
        })
        .join()
        .unwrap();
    }
    let total = 2 * THREADS as u64 * EACH;
    let metrics = bus.metrics();
    assert_eq!(metrics.emitted, total);
    assert_eq!(metrics.delivered, total);
}
