//! The file layout: one `records` table, its indexes, and the connections that use it.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// `PRAGMA user_version` of a herald store.
pub(super) const SCHEMA_VERSION: i64 = 1;

const CREATE: &str = "
CREATE TABLE records (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    event          TEXT NOT NULL,
    kind           TEXT NOT NULL,
    phase          TEXT NOT NULL,
    timestamp_ns   INTEGER NOT NULL,
    source         TEXT,
    target         TEXT,
    root_id        TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    parent_id      TEXT,
    causation_id   TEXT,
    duration_ns    INTEGER,
    json           TEXT NOT NULL
);
CREATE INDEX records_name ON records (name, timestamp_ns);
CREATE INDEX records_source ON records (source, timestamp_ns) WHERE source IS NOT NULL;
CREATE INDEX records_timestamp ON records (timestamp_ns);
CREATE INDEX records_root ON records (root_id);
CREATE INDEX records_correlation ON records (correlation_id, timestamp_ns);
";

/// The columns every read selects, in [`StoredRecord::from_row`](super::StoredRecord) order.
pub(super) const COLUMNS: &str = "id, name, event, kind, phase, timestamp_ns, source, target, \
     root_id, correlation_id, parent_id, causation_id, duration_ns, json";

pub(super) const INSERT: &str = "INSERT OR IGNORE INTO records (id, name, event, kind, phase, \
     timestamp_ns, source, target, root_id, correlation_id, parent_id, causation_id, \
     duration_ns, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

/// How long a connection waits for another one's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating when missing) the file the writer thread owns: WAL mode, the table
/// created on first use, an optional size cap.
pub(super) fn open_writer(path: &Path, max_bytes: Option<u64>) -> Result<Connection, StoreError> {
    if path.is_dir() {
        return Err(StoreError::open(path, "it is a directory"));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::open(path, e))?;
    let open_err = |e: rusqlite::Error| StoreError::open(path, e);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::open(
            path,
            format_args!("cannot use WAL mode (journal mode is {mode})"),
        ));
    }
    // Durable across a crash of the process; the last commits may be lost on power loss.
    // A larger page cache and fewer checkpoints keep the name index, whose inserts land
    // on many pages, from being reread and rewritten at every batch.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; \
         PRAGMA cache_size = -32768; \
         PRAGMA wal_autocheckpoint = 4096; \
         PRAGMA journal_size_limit = 67108864;",
    )
    .map_err(open_err)?;
    // Checked and created under the write lock, so two processes opening a new file
    // at once agree.
    conn.execute_batch("BEGIN IMMEDIATE").map_err(open_err)?;
    let prepared = prepare(&conn, path);
    let end = if prepared.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    conn.execute_batch(end).map_err(open_err)?;
    prepared?;
    if let Some(bytes) = max_bytes {
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(open_err)?;
        let pages = i64::try_from(bytes).unwrap_or(i64::MAX) / page_size.max(1);
        // SQLite keeps the current size when asked for less.
        let _: i64 = conn
            .query_row(
                &format!("PRAGMA max_page_count = {}", pages.max(1)),
                [],
                |r| r.get(0),
            )
            .map_err(open_err)?;
    }
    Ok(conn)
}

/// Creates the table in a new file; checks the version of an existing one.
fn prepare(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    match user_version(conn, path)? {
        0 if table_count(conn, path)? > 0 => Err(StoreError::schema(
            path,
            "the database has tables of its own",
        )),
        0 => conn
            .execute_batch(&format!("{CREATE} PRAGMA user_version = {SCHEMA_VERSION};"))
            .map_err(|e| StoreError::open(path, e)),
        SCHEMA_VERSION => Ok(()),
        other => Err(unsupported(path, other)),
    }
}

/// Opens an existing store for reading. Beside a writer, the connection is opened
/// read-write (it never writes) so that whichever closes last can checkpoint the WAL
/// into the file and remove it.
pub(super) fn open_reader(path: &Path, beside_writer: bool) -> Result<Connection, StoreError> {
    if path.is_dir() {
        return Err(StoreError::open(path, "it is a directory"));
    }
    if !path.exists() {
        return Err(StoreError::open(path, "no such file"));
    }
    let mode = if beside_writer {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    };
    let flags = mode | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::open(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| StoreError::open(path, e))?;
    // Rows a query picks out are scattered over the file: map it rather than copy
    // each page in, and keep the pages recent queries used.
    conn.execute_batch("PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -16384;")
        .map_err(|e| StoreError::open(path, e))?;
    match user_version(&conn, path)? {
        SCHEMA_VERSION => Ok(conn),
        0 => Err(StoreError::schema(path, "it has no `records` table")),
        other => Err(unsupported(path, other)),
    }
}

fn user_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| StoreError::open(path, e))
}

fn table_count(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    )
    .map_err(|e| StoreError::open(path, e))
}

fn unsupported(path: &Path, version: i64) -> StoreError {
    StoreError::schema(
        path,
        format_args!("its schema version is {version}, this herald reads version {SCHEMA_VERSION}"),
    )
}

/// Nanoseconds since the Unix epoch (negative before it), saturating.
pub(super) fn to_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

pub(super) fn from_ns(ns: i64) -> SystemTime {
    let magnitude = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}
