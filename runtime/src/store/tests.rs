use std::path::PathBuf;

use super::*;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "herald-store-unit-{tag}-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A row written by a program whose event type this one does not link.
fn insert_foreign_row(path: &Path, id: Uuid) {
    let conn = Connection::open(path).expect("open");
    let json = format!(
        r#"{{"id":"{id}","name":"elsewhere.thing","event":"elsewhere.thing","version":1,"kind":"notification","phase":"pending","timestamp":"2026-01-02T03:04:05.000000006Z","parent_id":null,"root_id":"{id}","correlation_id":"{id}","causation_id":null,"subject":null,"actor":null,"context":{{}},"source":null,"target":null,"priority":5,"expires_at":null,"duration_ns":null,"labels":{{}},"payload":{{"n":1}}}}"#
    );
    conn.execute(
        "INSERT INTO records (id, name, event, kind, phase, timestamp_ns, root_id, \
         correlation_id, json) VALUES (?1, 'elsewhere.thing', 'elsewhere.thing', \
         'notification', 'pending', 1767323045000000006, ?1, ?1, ?2)",
        rusqlite::params![id.to_string(), json],
    )
    .expect("insert");
}

#[test]
fn rows_of_unknown_types_are_listed_and_skipped_when_decoding() {
    let dir = TempDir::new("foreign");
    let path = dir.0.join("events.db");
    let store = SqliteStore::open(&path).expect("open");
    let id = Uuid::new_v4();
    insert_foreign_row(&path, id);

    let rows = store
        .query_stored(&Filter::new().name("elsewhere.*"))
        .expect("query");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id(), id);
    assert_eq!(rows[0].event(), "elsewhere.thing");
    assert_eq!(rows[0].payload_json()["n"], 1);
    assert_eq!(
        crate::time_fmt::format_rfc3339(rows[0].timestamp()),
        "2026-01-02T03:04:05.000000006Z"
    );

    assert!(store.query(&Filter::new()).expect("query").is_empty());
    assert_eq!(store.metrics().undecodable, 1);
    assert!(matches!(
        store.get(id),
        Err(StoreError::Decode { id: bad, source: crate::error::DecodeError::UnknownName(_) }) if bad == id
    ));
    assert!(store.tree(id).expect("tree").is_none());
}

#[test]
fn a_read_only_store_refuses_and_counts() {
    let dir = TempDir::new("read-only");
    let path = dir.0.join("events.db");
    drop(SqliteStore::open(&path).expect("create"));
    let store = SqliteStore::open_read_only(&path).expect("open");
    let bus = crate::Bus::builder()
        .registered_handlers(false)
        .history(0)
        .store(store.clone())
        .build()
        .expect("bus");
    bus.emit(crate::Started {
        operation: "unit.op".into(),
        args: Vec::new(),
    });
    let m = store.metrics();
    assert_eq!((m.accepted, m.refused, m.lost), (1, 1, 1));
    assert_eq!(store.count().expect("count"), 0);
}

#[test]
fn opening_a_foreign_database_is_a_schema_error() {
    let dir = TempDir::new("foreign-db");
    let path = dir.0.join("other.db");
    Connection::open(&path)
        .expect("open")
        .execute_batch("CREATE TABLE t (x)")
        .expect("create");
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::Schema { .. })
    ));
    assert!(matches!(
        SqliteStore::open_read_only(&path),
        Err(StoreError::Schema { .. })
    ));
}

#[test]
fn nanosecond_timestamps_round_trip() {
    use std::time::{Duration, UNIX_EPOCH};
    for t in [
        UNIX_EPOCH,
        UNIX_EPOCH + Duration::new(1_795_000_000, 123_456_789),
        UNIX_EPOCH - Duration::from_secs(5),
    ] {
        assert_eq!(schema::from_ns(schema::to_ns(t)), t);
    }
}
