//! The embedded event store: [`SqliteStore`] keeps every record a bus emits in a SQLite
//! file, off the emit path, and answers the same [`Filter`] queries as history after a
//! restart.
//!
//! - The bus hands each record to [`accept`](RecordSink::accept), which only queues it
//!   (a bounded channel); a background thread writes batches in transactions. What the
//!   queue refuses, and what a failed write loses, is counted in
//!   [`metrics`](SqliteStore::metrics), never dropped silently.
//! - [`Bus::flush`](crate::Bus::flush) (or [`SqliteStore::flush`]) resolves once
//!   everything accepted before it is committed.
//! - [`query`](SqliteStore::query), [`get`](SqliteStore::get) and
//!   [`tree`](SqliteStore::tree) return decoded [`Record`]s; the `*_stored` variants
//!   return [`StoredRecord`]s (indexed columns and JSON), which need no event type to be
//!   linked into the program (the `herald` command line uses them).
//!
//! The file is a plain SQLite database in WAL mode with one table, `records`, indexed by
//! name, source, timestamp, root and correlation; its `json` column holds
//! [`Record::to_json`]. A committed batch survives a crash of the process (the last
//! batches may not survive a power loss: `synchronous = NORMAL`). A record whose id is
//! already stored is not written twice (counted in [`StoreMetrics::duplicates`]).
//! Several processes may read one file while one of them writes it.

mod error;
mod query;
mod schema;
mod stored;
mod writer;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::core::{RecordSink, SinkReadError};
use crate::envelope::Record;
use crate::filter::Filter;
use crate::tree::Tree;

pub use error::StoreError;
pub use stored::StoredRecord;

use writer::{Message, Stats};

/// Default capacity of the queue between the emitters and the writer thread.
pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
/// Default largest number of records written in one transaction.
pub const DEFAULT_BATCH_SIZE: usize = 4_096;
/// Default time the writer waits for more records before writing a small batch.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(2);

/// An event store in a SQLite file; see the [module docs](self).
///
/// Clones share one file, one writer thread and one set of counters: give one clone to
/// [`Builder::store`](crate::Builder::store) and keep another to query. Dropping the last
/// clone waits for the writer to commit what it accepted.
///
/// ```
/// use herald::prelude::*;
/// use herald::store::SqliteStore;
/// use herald::{Bus, Filter};
///
/// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
/// #[event(name = "doc.invoice.sent")]
/// struct InvoiceSent { invoice: u64 }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("herald-doc-store-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let store = SqliteStore::open(dir.join("events.db"))?;
/// let bus = Bus::builder().registered_handlers(false).store(store.clone()).build()?;
///
/// bus.emit(InvoiceSent { invoice: 7 });
/// tokio::runtime::Builder::new_current_thread().build()?.block_on(bus.flush());
///
/// let found = store.query(&Filter::new().name("doc.invoice.*"))?;
/// assert_eq!(found[0].downcast_ref::<InvoiceSent>().map(|e| e.invoice), Some(7));
/// assert_eq!(store.metrics().lost, 0);
///
/// drop((bus, store));
/// // A new process reads the same file.
/// let reopened = SqliteStore::open_read_only(dir.join("events.db"))?;
/// assert_eq!(reopened.count()?, 1);
/// # drop(reopened);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// `None` for a store opened read-only.
    sender: Option<mpsc::Sender<Message>>,
    writer: Option<JoinHandle<()>>,
    reader: Mutex<Connection>,
    stats: Arc<Stats>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel lets the writer drain what is queued, commit and stop.
        self.sender = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// How to open a [`SqliteStore`]: `StoreOptions::new().queue_capacity(1 << 20).open(path)`.
#[derive(Clone, Debug)]
#[must_use = "options do nothing until `.open(path)`"]
pub struct StoreOptions {
    queue_capacity: usize,
    batch_size: usize,
    linger: Duration,
    max_bytes: Option<u64>,
    read_only: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            batch_size: DEFAULT_BATCH_SIZE,
            linger: DEFAULT_LINGER,
            max_bytes: None,
            read_only: false,
        }
    }
}

impl StoreOptions {
    /// The defaults: queue of [`DEFAULT_QUEUE_CAPACITY`], batches of up to
    /// [`DEFAULT_BATCH_SIZE`] after a [`DEFAULT_LINGER`], no size limit, read-write.
    pub fn new() -> StoreOptions {
        StoreOptions::default()
    }
    /// How many records may wait for the writer (1 to 2^28); beyond it `accept`
    /// refuses and counts the record as lost.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.clamp(1, 1 << 28);
        self
    }
    /// The largest number of records written in one transaction (at least 1). A batch
    /// is whatever queued while the previous one was written, up to this size.
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }
    /// How long the writer, woken by a record while fewer than a batch are queued,
    /// waits for more before writing (zero: at once). A trickle of records is then
    /// written a few per transaction, and emitters seldom have to wake the writer.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }
    /// Caps the database file at about `bytes` (SQLite's `max_page_count`); writes past
    /// it fail and are counted as lost, as on a full disk.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }
    /// Opens an existing store for queries only: no writer thread, and every record
    /// offered to it is refused and counted as lost.
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// Opens (or, read-write, creates) the store at `path`.
    pub fn open(self, path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let stats = Arc::new(Stats::default());
        let (sender, writer) = if self.read_only {
            (None, None)
        } else {
            let conn = schema::open_writer(&path, self.max_bytes)?;
            let (tx, rx) = mpsc::channel(self.queue_capacity);
            let batching = writer::Batching {
                size: self.batch_size,
                linger: self.linger,
            };
            let handle = writer::spawn(conn, rx, batching, Arc::clone(&stats))
                .map_err(|e| StoreError::open(&path, e))?;
            (Some(tx), Some(handle))
        };
        let reader = schema::open_reader(&path, !self.read_only)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                sender,
                writer,
                reader: Mutex::new(reader),
                stats,
            }),
        })
    }
}

/// Counters of a [`SqliteStore`], from [`SqliteStore::metrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreMetrics {
    /// Records offered by the bus.
    pub accepted: u64,
    /// Records committed to the file.
    pub written: u64,
    /// Records already in the file (same id), not written twice.
    pub duplicates: u64,
    /// Records refused because the queue was full (or the store is read-only).
    pub refused: u64,
    /// Records lost because their batch failed to commit (full disk, read-only file).
    pub failed: u64,
    /// `refused + failed`: every record offered and not kept.
    pub lost: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Rows that [`SqliteStore::query`] or [`SqliteStore::tree`] skipped because they do
    /// not decode in this program (an event type it does not link, a bad payload).
    pub undecodable: u64,
}

impl StoreMetrics {
    /// Records accepted and not yet written or lost (queued, or in the batch being written).
    pub fn pending(&self) -> u64 {
        self.accepted
            .saturating_sub(self.written + self.duplicates + self.lost)
    }
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file and its table when missing, with the
    /// default [`StoreOptions`].
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        StoreOptions::new().open(path)
    }

    /// Opens an existing store for queries only (see [`StoreOptions::read_only`]).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        StoreOptions::new().read_only(true).open(path)
    }

    /// The file this store reads and writes.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Resolves when every record accepted before this call is committed (or counted as
    /// lost, when its write failed).
    pub async fn flush(&self) {
        let Some(sender) = &self.inner.sender else {
            return;
        };
        let (done, committed) = oneshot::channel();
        // Waits for room: the marker must queue behind the records it covers.
        if sender.send(Message::Flush(done)).await.is_ok() {
            let _ = committed.await;
        }
    }

    /// The counters.
    pub fn metrics(&self) -> StoreMetrics {
        let s = &self.inner.stats;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let refused = load(&s.refused);
        let failed = load(&s.failed);
        StoreMetrics {
            accepted: load(&s.accepted),
            written: load(&s.written),
            duplicates: load(&s.duplicates),
            refused,
            failed,
            lost: refused + failed,
            batches: load(&s.batches),
            undecodable: load(&s.undecodable),
        }
    }

    /// Records offered and not kept: `metrics().lost`.
    pub fn lost(&self) -> u64 {
        self.metrics().lost
    }

    /// The most recent failed write ([`StoreError::Write`]), if any.
    pub fn last_error(&self) -> Option<StoreError> {
        self.inner.stats.last_error()
    }

    /// The stored records that `filter` matches, oldest first, decoded by their
    /// registered event type.
    ///
    /// Rows that do not decode in this program (an event type it does not link, a
    /// payload of another shape) are skipped and counted in
    /// [`StoreMetrics::undecodable`]; [`query_stored`](Self::query_stored) returns every
    /// row. With [`Filter::limit`], the newest `n` matching rows are read, so fewer may
    /// come back when some of them are skipped.
    ///
    /// Reads are synchronous SQLite calls; from async code with large results, consider
    /// `tokio::task::spawn_blocking`.
    pub fn query(&self, filter: &Filter) -> Result<Vec<Record>, StoreError> {
        let rows = self.query_stored(filter)?;
        Ok(self.decode_all(rows, filter))
    }

    /// Rows matching `filter` written after row number `after`, in write order, at most
    /// `max` (for `herald tail`).
    #[cfg(feature = "cli")]
    pub(crate) fn written_after(
        &self,
        filter: &Filter,
        after: i64,
        max: usize,
    ) -> Result<Vec<(i64, StoredRecord)>, StoreError> {
        query::written_after(&self.reader(), filter, after, max)
    }

    /// The number of the last row written (for `herald tail`).
    #[cfg(feature = "cli")]
    pub(crate) fn last_row(&self) -> Result<i64, StoreError> {
        query::last_row(&self.reader())
    }

    /// The stored rows that `filter` matches, oldest first, without decoding them.
    pub fn query_stored(&self, filter: &Filter) -> Result<Vec<StoredRecord>, StoreError> {
        query::select(&self.reader(), filter)
    }

    /// One record by id; a row that does not decode is an error.
    pub fn get(&self, id: Uuid) -> Result<Option<Record>, StoreError> {
        match self.get_stored(id)? {
            Some(row) => row.decode().map(Some).map_err(|source| StoreError::Decode {
                id: row.id(),
                source,
            }),
            None => Ok(None),
        }
    }

    /// One stored row by id.
    pub fn get_stored(&self, id: Uuid) -> Result<Option<StoredRecord>, StoreError> {
        query::by_id(&self.reader(), id)
    }

    /// The tree rooted at `root`, as [`Bus::tree`](crate::Bus::tree) builds it from
    /// history; `None` when the root record is not stored. Rows that do not decode are
    /// skipped and counted, as in [`query`](Self::query).
    pub fn tree(&self, root: Uuid) -> Result<Option<Tree>, StoreError> {
        let filter = Filter::new().root(root);
        let rows = self.query_stored(&filter)?;
        let records = self.decode_all(rows, &filter);
        Ok(Tree::build(root, records))
    }

    /// How many records the file holds.
    pub fn count(&self) -> Result<u64, StoreError> {
        query::count(&self.reader())
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.inner
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn decode_all(&self, rows: Vec<StoredRecord>, filter: &Filter) -> Vec<Record> {
        let mut skipped = 0;
        let records = rows
            .iter()
            .filter_map(|row| match row.decode() {
                Ok(record) => Some(record),
                Err(_) => {
                    skipped += 1;
                    None
                }
            })
            .filter(|record| filter.matches(record))
            .collect();
        self.inner
            .stats
            .undecodable
            .fetch_add(skipped, Ordering::Relaxed);
        records
    }
}

impl RecordSink for SqliteStore {
    fn accept(&self, record: &Record) {
        let stats = &self.inner.stats;
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let queued = self
            .inner
            .sender
            .as_ref()
            .is_some_and(|tx| tx.try_send(Message::Record(record.clone())).is_ok());
        if !queued {
            stats.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(SqliteStore::flush(self))
    }

    fn records(&self, filter: &Filter) -> Option<Result<Vec<Record>, SinkReadError>> {
        Some(self.query(filter).map_err(SinkReadError::from))
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("read_only", &self.inner.sender.is_none())
            .field("metrics", &self.metrics())
            .finish()
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
