//! The `herald` binary end to end, on a store file written by a bus: `query` lists,
//! `tree` nests, `tail` prints what was kept before and what comes after it started.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use herald::prelude::*;
use herald::store::SqliteStore;
use herald::Bus;
use herald_tests::redis_server::RedisServer;

#[derive(Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "cli_test.tick")]
struct Tick {
    n: u32,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "cli_test.other")]
struct Other;

fn herald() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herald"))
}

/// A bus that keeps every record in the store file `db`.
fn bus_storing_to(db: &std::path::Path) -> Bus {
    let store = SqliteStore::open(db).unwrap();
    Bus::builder()
        .registered_handlers(false)
        .store(store)
        .build()
        .unwrap()
}

fn temp_db(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("events.db")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_the_last_records_then_follows() {
    let db = temp_db("tail");
    let bus = bus_storing_to(&db);
    for n in 0..3 {
        bus.emit(Tick { n });
    }
    bus.emit(Other);
    bus.flush().await;

    let mut child = herald()
        .args(["tail", "--db"])
        .arg(&db)
        .args([
            "--pattern",
            "cli_test.tick",
            "--last",
            "2",
            "--count",
            "4",
            "--json",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("a line from tail")
    };
    let n_of = |line: String| -> u64 {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["name"], "cli_test.tick");
        v["payload"]["n"].as_u64().unwrap()
    };
    // The newest two kept so far, oldest first.
    assert_eq!((n_of(next()), n_of(next())), (1, 2));

    // Then what is written after it started, skipping what the pattern refuses.
    bus.emit(Other);
    bus.emit(Tick { n: 10 });
    bus.emit(Tick { n: 11 });
    bus.flush().await;
    assert_eq!((n_of(next()), n_of(next())), (10, 11));
    let status = child.wait().unwrap();
    assert!(status.success(), "tail stops after --count records");
}

/// Waits for `child` up to `within`; kills it and returns `None` when it is still running.
fn exit_within(
    child: &mut std::process::Child,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn tail_with_count_zero_prints_nothing_and_exits() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = temp_db("count-zero");
    let bus = bus_storing_to(&db);
    for n in 0..3 {
        bus.emit(Tick { n });
    }
    rt.block_on(bus.flush());

    for last in ["0", "2"] {
        let mut child = herald()
            .args(["tail", "--db"])
            .arg(&db)
            .args(["--count", "0", "--last", last])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let status = exit_within(&mut child, Duration::from_secs(20));
        assert_eq!(
            status.map(|s| s.code()),
            Some(Some(0)),
            "tail --count 0 --last {last} exits at once, successfully"
        );
        let mut text = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut text).unwrap();
        assert_eq!(text, "", "--last {last}");
    }
}

#[test]
fn query_and_tree_read_the_store_and_bad_input_fails_clearly() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = temp_db("query");
    let bus = bus_storing_to(&db);
    let first = bus.emit(Tick { n: 1 });
    bus.emit(Tick { n: 2 });
    rt.block_on(bus.flush());

    let out = herald().args(["query", "--db"]).arg(&db).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains(&first.to_string()));

    let out = herald()
        .args(["tree", "--db"])
        .arg(&db)
        .arg(first.to_string())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("cli_test.tick"));

    let out = herald()
        .args(["tree", "--db"])
        .arg(&db)
        .arg("not-an-id")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("not a record id"));

    // A multi-byte character where a byte-indexed parser sliced the offset.
    for bad in [
        "2026-01-02T03:04:05+0\u{e9}00",
        "2026-01-02T03:04:05+\u{20ac}00",
    ] {
        let out = herald()
            .args(["query", "--db"])
            .arg(&db)
            .args(["--since", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--since {bad}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("RFC 3339") && err.contains(bad), "{err}");
    }

    let out = herald()
        .args(["tail", "--redis", "redis://127.0.0.1:1", "--count", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("herald: redis at `redis://127.0.0.1:1`"),
        "{err}"
    );
}

#[test]
fn replay_sends_stored_records_that_tail_reads_from_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = temp_db("replay");
    let bus = bus_storing_to(&db);
    for n in 0..3 {
        bus.emit(Tick { n });
    }
    bus.emit(Other);
    rt.block_on(bus.flush());

    let mut tail = herald()
        .args(["tail", "--redis", &redis.url(), "--stream", "cli-test"])
        .args(["--pattern", "cli_test.*", "--count", "3", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // `tail` reads what is added after it connected: replay until it has seen three.
    let mut status = None;
    for _ in 0..100 {
        let out = herald()
            .args(["replay", "--db"])
            .arg(&db)
            .args(["--pattern", "cli_test.tick", "--redis", &redis.url()])
            .args(["--stream", "cli-test"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            "sent 3 of 3 matching records to `cli-test`"
        );
        status = tail.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = status.expect("tail saw the replayed records and stopped");
    assert!(status.success());
    let mut text = String::new();
    std::io::Read::read_to_string(&mut tail.stdout.take().unwrap(), &mut text).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    // Stored order, starting wherever tail joined the stream.
    let first = lines[0]["payload"]["n"].as_u64().unwrap();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["name"], "cli_test.tick");
        assert_eq!(line["labels"]["replayed"], "true");
        assert_eq!(line["payload"]["n"], (first + i as u64) % 3);
    }
}

#[test]
fn a_password_in_a_redis_url_never_shows_and_a_wrong_one_fails_clearly() {
    const PASSWORD: &str = "s3cret-Pa55word";
    const WRONG: &str = "wr0ng-Pa55word";
    let Some(redis) = RedisServer::builder().user("cli", PASSWORD).start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = temp_db("acl");
    let bus = bus_storing_to(&db);
    bus.emit(Tick { n: 1 });
    rt.block_on(bus.flush());

    let wrong = redis.url_as("cli", WRONG);
    for args in [
        vec!["tail", "--redis", &wrong, "--count", "1"],
        vec!["replay", "--pattern", "cli_test.*", "--redis", &wrong],
    ] {
        let mut cmd = herald();
        cmd.args(&args);
        if args[0] == "replay" {
            cmd.arg("--db").arg(&db);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("redis://cli:***@127.0.0.1:"), "{err}");
        assert!(
            err.to_lowercase().contains("authentication failed"),
            "{err}"
        );
        assert!(!err.contains(WRONG), "{err}");
    }

    let right = redis.url_as("cli", PASSWORD);
    let out = herald()
        .args(["replay", "--db"])
        .arg(&db)
        .args(["--pattern", "cli_test.*", "--redis", &right])
        .output()
        .unwrap();
    assert!(out.status.success());
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("sent 1 of 1"), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
}
