//! The Redis transport, end to end, beside the redis crate used directly:
//! `cargo bench -p herald --features redis --bench redis [-- FILTER] [--quick]`.
//!
//! Starts its own `redis-server` (no persistence) on a free loopback port. Rows:
//! throughput between two buses, each with its own transport (ns per event, and events
//! per second on stderr); latency from `emit` on one bus to the handler on the other at
//! a paced 5,000 events/s (p50, p99); and the peer: pipelined `XADD`s read back with
//! `XREADGROUP` + `XACK` by the redis crate alone, the same entry size, measured in the
//! same run.

#[allow(dead_code, reason = "the harness is shared with the main benchmark")]
#[path = "herald/harness.rs"]
mod harness;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use harness::Harness;
use herald::prelude::*;
use herald::transport::{Redis, Retention};
use herald::Bus;
use herald_tests::redis_server::RedisServer;
use redis::Value;

const GROUP: &str = "redis";
const THROUGHPUT_ROW: &str = "bus to bus throughput (ns per event)";
const THROUGHPUT_SHARED_ROW: &str =
    "bus to bus throughput, receiver with a shared subscription too (ns per event)";
const RAW_THROUGHPUT_ROW: &str = "redis crate: pipelined XADD -> XREADGROUP + XACK (peer)";
const RATE: u64 = 5_000;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "bench.redis.tick")]
struct Tick {
    n: u64,
    /// Nanoseconds since [`base`] when emitted.
    sent: u64,
}

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    u64::try_from(base().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A bus of its own on `stream`, as a process would have.
fn bus(url: &str, stream: &str, node: &str) -> Bus {
    let redis = Redis::builder(url)
        .stream(stream)
        .node(node)
        .retention(Retention::MaxLen(200_000))
        .buffer(1_000_000)
        .build()
        .expect("transport options");
    Bus::builder()
        .registered_handlers(false)
        .history(0)
        .transport(redis)
        .build()
        .expect("bus")
}

async fn wait_for(counter: &AtomicU64, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while counter.load(Ordering::Acquire) < n {
        assert!(Instant::now() < deadline, "events did not arrive");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// Events per second between two buses on one stream. With `shared`, the receiver also
/// has a `shared` subscription, so it reads the shared group as well (every event is
/// read three times: by the sender's group, the receiver's and the shared one).
async fn bus_throughput(h: &mut Harness, url: &str, shared: bool) {
    let row = if shared {
        THROUGHPUT_SHARED_ROW
    } else {
        THROUGHPUT_ROW
    };
    if !h.wants(GROUP, row) {
        return;
    }
    let (events, runs) = if h.quick() { (5_000, 1) } else { (100_000, 5) };
    let stream = format!("bench:{}", uuid_like());
    let a = bus(url, &stream, "a");
    let b = bus(url, &stream, "b");
    let _shared = shared.then(|| b.on::<Tick>().shared(true).handle(|_| {}));
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let _sub = b.subscribe::<Tick>(move |_| {
        s.fetch_add(1, Ordering::Release);
    });
    // Warm-up: connections, code paths.
    for n in 0..1_000 {
        a.emit(Tick { n, sent: 0 });
    }
    wait_for(&seen, 1_000).await;
    let mut samples = Vec::new();
    for _ in 0..runs {
        let before = seen.load(Ordering::Acquire);
        let t = Instant::now();
        for n in 0..events {
            a.emit(Tick { n, sent: 0 });
        }
        wait_for(&seen, before + events).await;
        samples.push(t.elapsed().as_nanos() as f64 / events as f64);
    }
    let stats = a.transport_stats().expect("a transport");
    assert_eq!(stats.lost, 0, "{stats:?}");
    h.record(GROUP, row, &mut samples);
}

/// p50 and p99 from emit on one bus to the handler on the other, at a paced rate.
async fn bus_latency(h: &mut Harness, url: &str) {
    let (p50_row, p99_row) = (
        "bus to bus latency at 5k events/s, p50 (ns)",
        "bus to bus latency at 5k events/s, p99 (ns)",
    );
    if !h.wants(GROUP, p50_row) {
        return;
    }
    let events = if h.quick() { 1_000 } else { 10_000 };
    let stream = format!("bench:{}", uuid_like());
    let a = bus(url, &stream, "a");
    let b = bus(url, &stream, "b");
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(events as usize + 500)));
    let l = latencies.clone();
    let _sub = b.subscribe::<Tick>(move |ev| {
        let took = now_ns().saturating_sub(ev.payload().sent);
        l.lock().unwrap().push(took);
    });
    let total = events + 500; // the first 500 warm up
    let emitter = std::thread::spawn(move || {
        paced(total, |n| {
            a.emit(Tick { n, sent: now_ns() });
        });
        a
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    while (latencies.lock().unwrap().len() as u64) < total {
        assert!(Instant::now() < deadline, "events did not arrive");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _a = emitter.join().expect("emitter");
    let mut all = latencies.lock().unwrap().split_off(500);
    report_percentiles(h, p50_row, p99_row, &mut all);
}

/// Calls `f(n)` for `n` in `0..total`, `RATE` times per second.
fn paced(total: u64, mut f: impl FnMut(u64)) {
    let period = Duration::from_nanos(1_000_000_000 / RATE);
    let start = Instant::now();
    for n in 0..total {
        let due = start + period * u32::try_from(n).unwrap_or(u32::MAX);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        f(n);
    }
}

fn report_percentiles(h: &mut Harness, p50_row: &str, p99_row: &str, all: &mut [u64]) {
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)] as f64;
    let (p50, p99) = (at(0.50), at(0.99));
    h.record(GROUP, p50_row, &mut [p50]);
    h.record(GROUP, p99_row, &mut [p99]);
}

/// The JSON of one record, as herald sends it: the peer writes entries of that size.
fn sample_json() -> String {
    let bus = Bus::builder()
        .registered_handlers(false)
        .build()
        .expect("bus");
    let id = bus.emit(Tick { n: 12_345, sent: 0 });
    bus.get(id).expect("in history").to_json()
}

/// Reads a group until `target` entries were read (acknowledging each batch), counting
/// them in `seen`; each entry's `sent` field, when present, gives a latency sample.
async fn raw_reader(
    client: redis::Client,
    stream: String,
    seen: Arc<AtomicU64>,
    latencies: Arc<Mutex<Vec<u64>>>,
    target: u64,
) {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("reader connection");
    while seen.load(Ordering::Acquire) < target {
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg("c")
            .arg("COUNT")
            .arg(256)
            .arg("BLOCK")
            .arg(1000)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">")
            .query_async(&mut conn)
            .await
            .expect("XREADGROUP");
        let mut ids = Vec::new();
        for (id, sent) in entries(reply) {
            if let Some(sent) = sent {
                latencies
                    .lock()
                    .unwrap()
                    .push(now_ns().saturating_sub(sent));
            }
            ids.push(id);
        }
        if ids.is_empty() {
            continue;
        }
        redis::cmd("XACK")
            .arg(&stream)
            .arg("g")
            .arg(&ids)
            .query_async::<Value>(&mut conn)
            .await
            .expect("XACK");
        seen.fetch_add(ids.len() as u64, Ordering::Release);
    }
}

/// The ids of an `XREADGROUP` reply, with the `sent` field of each entry.
fn entries(reply: Value) -> Vec<(String, Option<u64>)> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    let mut out = Vec::new();
    let Value::Array(streams) = reply else {
        return out;
    };
    for s in streams {
        let Value::Array(pair) = s else { continue };
        let Some(Value::Array(items)) = pair.get(1) else {
            continue;
        };
        for item in items {
            let Value::Array(parts) = item else { continue };
            let (Some(id), Some(Value::Array(fields))) = (parts.first(), parts.get(1)) else {
                continue;
            };
            let sent = fields
                .chunks(2)
                .find(|kv| text(&kv[0]) == "sent")
                .and_then(|kv| text(kv.get(1)?).parse().ok());
            out.push((text(id), sent));
        }
    }
    out
}

/// A client of the redis crate with `TCP_NODELAY`, as herald's transport uses.
fn raw_client(url: &str) -> redis::Client {
    use redis::IntoConnectionInfo;
    let info = url
        .into_connection_info()
        .expect("url")
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    redis::Client::open(info).expect("url")
}

async fn create_group(client: &redis::Client, stream: &str) {
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("g")
        .arg("$")
        .arg("MKSTREAM")
        .query_async::<()>(&mut conn)
        .await
        .expect("XGROUP CREATE");
}

/// The peer: the redis crate alone, pipelined `XADD`s of herald-sized entries read back
/// by a group consumer.
async fn raw_throughput(h: &mut Harness, url: &str) {
    if !h.wants(GROUP, RAW_THROUGHPUT_ROW) {
        return;
    }
    let (events, runs) = if h.quick() { (5_000, 1) } else { (100_000, 5) };
    let client = raw_client(url);
    let json = sample_json();
    let mut samples = Vec::new();
    for _ in 0..runs {
        let stream = format!("bench:raw:{}", uuid_like());
        create_group(&client, &stream).await;
        let seen = Arc::new(AtomicU64::new(0));
        let mut writer = client
            .get_multiplexed_async_connection()
            .await
            .expect("writer connection");
        let t = Instant::now();
        let reader = tokio::spawn(raw_reader(
            client.clone(),
            stream.clone(),
            seen.clone(),
            Arc::default(),
            events,
        ));
        let mut n = 0;
        while n < events {
            let mut pipe = redis::pipe();
            for _ in 0..256.min(events - n) {
                pipe.cmd("XADD")
                    .arg(&stream)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(200_000)
                    .arg("*")
                    .arg("origin")
                    .arg("00000000-0000-0000-0000-000000000000")
                    .arg("json")
                    .arg(&json);
                n += 1;
            }
            pipe.query_async::<Value>(&mut writer)
                .await
                .expect("XADD pipeline");
        }
        reader.await.expect("reader");
        samples.push(t.elapsed().as_nanos() as f64 / events as f64);
    }
    h.record(GROUP, RAW_THROUGHPUT_ROW, &mut samples);
}

/// The peer's latency: one `XADD` per event (blocking client, paced) to a group reader.
async fn raw_latency(h: &mut Harness, url: &str) {
    let (p50_row, p99_row) = (
        "redis crate: XADD -> XREADGROUP at 5k events/s, p50 (ns) (peer)",
        "redis crate: XADD -> XREADGROUP at 5k events/s, p99 (ns) (peer)",
    );
    if !h.wants(GROUP, p50_row) {
        return;
    }
    let events = if h.quick() { 1_000 } else { 10_000 };
    let total = events + 500;
    let client = raw_client(url);
    let stream = format!("bench:raw:{}", uuid_like());
    create_group(&client, &stream).await;
    let seen = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let reader = tokio::spawn(raw_reader(
        client.clone(),
        stream.clone(),
        seen,
        latencies.clone(),
        total,
    ));
    let json = sample_json();
    let emitter = std::thread::spawn(move || {
        let mut conn = client.get_connection().expect("writer connection");
        paced(total, |_| {
            redis::cmd("XADD")
                .arg(&stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(200_000)
                .arg("*")
                .arg("sent")
                .arg(now_ns())
                .arg("json")
                .arg(&json)
                .query::<String>(&mut conn)
                .expect("XADD");
        });
    });
    reader.await.expect("reader");
    emitter.join().expect("emitter");
    let mut all = latencies.lock().unwrap().split_off(500);
    report_percentiles(h, p50_row, p99_row, &mut all);
}

fn uuid_like() -> String {
    format!("{:x}", now_ns() ^ (u64::from(std::process::id()) << 40))
}

fn main() {
    let mut h = Harness::from_args();
    eprintln!(
        "herald redis benchmarks ({} mode)",
        if h.quick() { "quick" } else { "full" }
    );
    let server = match RedisServer::builder().launch() {
        Ok(server) => server,
        Err(e) => {
            eprintln!("no redis benchmarks: {e}");
            if std::env::var_os("CI").is_some() || !e.is_missing_tool() {
                std::process::exit(1);
            }
            return;
        }
    };
    let url = server.url();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        raw_throughput(&mut h, &url).await;
        bus_throughput(&mut h, &url, false).await;
        bus_throughput(&mut h, &url, true).await;
        raw_latency(&mut h, &url).await;
        bus_latency(&mut h, &url).await;
    });
    drop(rt);
    drop(server);
    h.print_table();

    println!();
    println!("Targets:");
    let per_s = |ns: f64| 1e9 / ns;
    if let Some(ns) = h.get(GROUP, THROUGHPUT_ROW) {
        let peer = h.get(GROUP, RAW_THROUGHPUT_ROW).map_or(String::new(), |p| {
            format!(" (the redis crate alone: {:.0} events/s)", per_s(p))
        });
        println!(
            "- bus to bus throughput: {:.0} events/s{peer}; target >= 50,000",
            per_s(ns)
        );
    }
    if let Some(ns) = h.get(GROUP, THROUGHPUT_SHARED_ROW) {
        println!(
            "- bus to bus throughput, receiver with a shared subscription too: {:.0} events/s",
            per_s(ns)
        );
    }
    if let Some(ns) = h.get(GROUP, "bus to bus latency at 5k events/s, p99 (ns)") {
        println!(
            "- bus to bus latency at 5k events/s, p99: {:.2} ms; target < 2 ms",
            ns / 1e6
        );
    }
}
