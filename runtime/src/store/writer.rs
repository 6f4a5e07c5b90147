//! The writer thread: takes queued records in batches and commits each batch in one
//! transaction. A failed batch is counted as lost and kept as the last error; the
//! thread goes on with the next one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, Statement};
use tokio::sync::{mpsc, oneshot};

use super::schema::{to_ns, INSERT};
use super::StoreError;
use crate::envelope::Record;

/// What the emitters and [`flush`](super::SqliteStore::flush) send to the writer.
pub(super) enum Message {
    Record(Record),
    /// Answered once everything queued before it is committed.
    Flush(oneshot::Sender<()>),
}

/// Counters shared by the store handles and the writer.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) accepted: AtomicU64,
    pub(super) written: AtomicU64,
    pub(super) duplicates: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) batches: AtomicU64,
    pub(super) undecodable: AtomicU64,
    /// Records of the last failed batch and why it failed.
    last_error: Mutex<Option<(u64, String)>>,
}

impl Stats {
    pub(super) fn last_error(&self) -> Option<StoreError> {
        let last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last.as_ref().map(|(records, reason)| StoreError::Write {
            records: *records,
            reason: reason.clone(),
        })
    }

    fn fail(&self, records: u64, reason: String) {
        self.failed.fetch_add(records, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((records, reason));
    }
}

/// How the writer groups records into transactions.
#[derive(Clone, Copy, Debug)]
pub(super) struct Batching {
    /// At most this many records per transaction.
    pub(super) size: usize,
    /// Woken with fewer queued, wait this long for more.
    pub(super) linger: Duration,
}

pub(super) fn spawn(
    conn: Connection,
    rx: mpsc::Receiver<Message>,
    batching: Batching,
    stats: Arc<Stats>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("herald-store".to_owned())
        .spawn(move || run(&conn, rx, batching, &stats))
}

/// Runs until every sender is gone and the queue is drained.
fn run(conn: &Connection, mut rx: mpsc::Receiver<Message>, batching: Batching, stats: &Stats) {
    let batch_size = batching.size;
    let mut insert = match conn.prepare(INSERT) {
        Ok(stmt) => Some(stmt),
        Err(e) => {
            stats.fail(0, e.to_string());
            None
        }
    };
    let mut batch: Vec<Record> = Vec::with_capacity(batch_size.min(super::DEFAULT_BATCH_SIZE));
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        // While this thread sleeps, emitters queue without waking it.
        let short_batch = matches!(first, Message::Record(_)) && rx.len() + 1 < batch_size;
        if short_batch && !batching.linger.is_zero() {
            std::thread::sleep(batching.linger);
        }
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Record(r) => batch.push(r),
                Message::Flush(done) => waiting.push(done),
            }
            if batch.len() < batch_size {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            match insert.as_mut() {
                Some(stmt) => write(conn, stmt, &batch, stats),
                None => stats.fail(
                    batch.len() as u64,
                    "the insert statement did not compile".to_owned(),
                ),
            }
            batch.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
    // Index statistics for the query planner of the next opener, as SQLite advises
    // before closing; a failure here loses nothing.
    drop(insert);
    let _ = conn.execute_batch("PRAGMA optimize");
}

fn write(conn: &Connection, insert: &mut Statement<'_>, batch: &[Record], stats: &Stats) {
    let result = (|| -> rusqlite::Result<u64> {
        conn.execute_batch("BEGIN")?;
        let mut inserted = 0;
        for record in batch {
            inserted += insert_one(insert, record, &record.to_json())? as u64;
        }
        conn.execute_batch("COMMIT")?;
        Ok(inserted)
    })();
    match result {
        Ok(inserted) => {
            stats.written.fetch_add(inserted, Ordering::Relaxed);
            stats
                .duplicates
                .fetch_add(batch.len() as u64 - inserted, Ordering::Relaxed);
            stats.batches.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            stats.fail(batch.len() as u64, e.to_string());
        }
    }
}

pub(super) fn insert_one(
    insert: &mut Statement<'_>,
    r: &Record,
    json: &str,
) -> rusqlite::Result<usize> {
    let mut ids = [[0u8; 36]; 5];
    let [id, root, correlation, parent, causation] = &mut ids;
    let id = &*r.id().hyphenated().encode_lower(id);
    let root = &*r.root_id().hyphenated().encode_lower(root);
    let correlation = &*r.correlation_id().hyphenated().encode_lower(correlation);
    let parent = r.parent_id().map(|p| &*p.hyphenated().encode_lower(parent));
    let causation = r
        .causation_id()
        .map(|c| &*c.hyphenated().encode_lower(causation));
    let duration = r
        .duration()
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    insert.execute(rusqlite::params![
        id,
        r.name(),
        r.event_name(),
        r.kind().as_str(),
        r.phase().as_str(),
        to_ns(r.timestamp()),
        r.source(),
        r.target(),
        root,
        correlation,
        parent,
        causation,
        duration,
        json,
    ])
}
