//! A producer and two workers, each a process of its own, linked by a Redis stream.
//!
//! The producer emits jobs. Every worker sees every job (`audit`, a plain
//! subscription), and each job is processed by exactly one of them (`process`, a
//! `shared` subscription); the worker that processed a job answers with `JobDone`,
//! which reaches the producer. Then the producer tells everyone to stop.
//!
//! Run with `cargo run --example distributed`: it starts its own `redis-server` on a
//! free port (it must be installed), unless given one with `-- --redis URL` or
//! `HERALD_REDIS=URL`. The workers are this same program, started as
//! `distributed worker a` and `distributed worker b`.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use herald::prelude::*;
use herald::transport::Redis;
use herald::Bus;
use herald_tests::redis_server::RedisServer;

/// A unit of work.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "distributed.job")]
pub struct Job {
    pub id: u32,
    pub item: String,
}

/// A worker processed a job.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "distributed.job_done")]
pub struct JobDone {
    pub id: u32,
    pub worker: String,
}

/// Everyone stops.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "distributed.shutdown")]
pub struct Shutdown;

const JOBS: u32 = 24;
const PATIENCE: Duration = Duration::from_secs(20);
const ENV_URL: &str = "HERALD_REDIS";
const ENV_STREAM: &str = "HERALD_EXAMPLE_STREAM";

type Res<T> = Result<T, Box<dyn Error>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("worker") => match args.get(1) {
            Some(name) => worker(name).await,
            None => Err("usage: distributed worker NAME".into()),
        },
        _ => producer(&args).await,
    };
    if let Err(e) = outcome {
        eprintln!("distributed: {e}");
        std::process::exit(1);
    }
}

fn bus(redis: Redis) -> Res<Bus> {
    Ok(Bus::builder()
        .registered_handlers(false)
        .transport(redis)
        .build()?)
}

async fn producer(args: &[String]) -> Res<()> {
    let given = match args {
        [flag, url] if flag == "--redis" => Some(url.clone()),
        [] => std::env::var(ENV_URL).ok(),
        _ => return Err("usage: distributed [--redis URL]".into()),
    };
    let (url, _server) = match given {
        Some(url) => (url, None),
        None => {
            // Loopback only, no persistence, stopped when the producer ends.
            let server = RedisServer::builder()
                .launch()
                .map_err(|e| format!("cannot start redis-server: {e}; or pass --redis URL"))?;
            (server.url(), Some(server))
        }
    };
    let stream = format!("herald:example:{}", std::process::id());
    println!("producer: redis at {url}, stream {stream}");

    // The producer has no shared subscription, so it leaves the shared records to the
    // workers.
    let redis = Redis::builder(url.as_str())
        .stream(stream.as_str())
        .node("producer")
        .build()?;
    let bus = bus(redis)?;
    let done: Arc<Mutex<BTreeMap<u32, String>>> = Arc::default();
    let d = done.clone();
    let _done = bus.subscribe::<JobDone>(move |ev| {
        let JobDone { id, worker } = ev.payload().clone();
        println!("producer: job {id} done by worker {worker}");
        if let Ok(mut done) = d.lock() {
            done.insert(id, worker);
        }
    });

    let mut workers = Vec::new();
    for name in ["a", "b"] {
        workers.push(Worker::spawn(name, &url, &stream)?);
    }
    for w in &workers {
        w.ready()?;
    }

    // A burst of jobs: each worker's read of the shared group takes a few at a time,
    // so the burst is spread across the workers.
    for id in 0..JOBS {
        bus.emit(Job {
            id,
            item: format!("parcel-{id}"),
        });
    }
    let start = Instant::now();
    while done.lock().map_or(0, |d| d.len()) < JOBS as usize {
        if start.elapsed() > PATIENCE {
            return Err("the workers did not finish the jobs in time".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    bus.emit(Shutdown);
    bus.flush().await;
    for w in &mut workers {
        w.wait()?;
    }
    let done = done.lock().map_err(|_| "a handler panicked")?;
    let mut per_worker: BTreeMap<&str, u32> = BTreeMap::new();
    for worker in done.values() {
        *per_worker.entry(worker).or_default() += 1;
    }
    println!("producer: {JOBS} jobs, each processed once: {per_worker:?}");
    if let Some(stats) = bus.transport_stats() {
        println!(
            "producer: sent {}, received {}, lost {}",
            stats.sent, stats.received, stats.lost
        );
    }
    Ok(())
}

async fn worker(name: &str) -> Res<()> {
    let url = std::env::var(ENV_URL).map_err(|_| format!("{ENV_URL} is not set"))?;
    let stream = std::env::var(ENV_STREAM).map_err(|_| format!("{ENV_STREAM} is not set"))?;
    let redis = Redis::builder(url)
        .stream(stream)
        .node(format!("worker-{name}"))
        .build()?;
    let bus = bus(redis)?;

    let me = name.to_owned();
    let _audit = bus.subscribe::<Job>(move |ev| {
        println!("worker {me}: saw job {}", ev.payload().id);
    });
    let me = name.to_owned();
    let _process = bus
        .on::<Job>()
        .name("process")
        .shared(true)
        .handle(move |ev| {
            let job = ev.payload();
            println!("worker {me}: processing job {} ({})", job.id, job.item);
            JobDone {
                id: job.id,
                worker: me.clone(),
            }
        });
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let _stop = bus.subscribe::<Shutdown>(move |_| s.store(true, Ordering::Relaxed));

    println!("READY");
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if start.elapsed() > PATIENCE * 2 {
            return Err("no shutdown came".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bus.flush().await;
    println!("worker {name}: stopping");
    Ok(())
}

/// A worker process; its output is forwarded to ours.
struct Worker {
    name: String,
    child: Child,
    ready: mpsc::Receiver<()>,
}

impl Worker {
    fn spawn(name: &str, url: &str, stream: &str) -> Res<Worker> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["worker", name])
            .env(ENV_URL, url)
            .env(ENV_STREAM, stream)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout from the worker")?;
        let (tx, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line == "READY" {
                    let _ = tx.send(());
                } else {
                    println!("  {line}");
                }
            }
        });
        Ok(Worker {
            name: name.to_owned(),
            child,
            ready,
        })
    }

    fn ready(&self) -> Res<()> {
        self.ready
            .recv_timeout(PATIENCE)
            .map_err(|_| format!("worker {} did not start", self.name).into())
    }

    fn wait(&mut self) -> Res<()> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("worker {} failed: {status}", self.name).into())
                };
            }
            if start.elapsed() > PATIENCE {
                return Err(format!("worker {} did not stop", self.name).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
