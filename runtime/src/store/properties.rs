//! Property tests of the store's row decoder: every record a bus stores reads back the
//! same, and a row with any column damaged (wrong type, mutated text, mutated JSON)
//! reads as a typed error or a record, never a panic.

use proptest::prelude::*;
use rusqlite::types::Value as Sql;
use rusqlite::Connection;

use super::schema::{COLUMNS, INSERT};
use super::writer::insert_one;
use super::{Filter, SqliteStore, StoreError};
use crate::envelope::Record;
use crate::event::Phase;
use crate::time_fmt::tests::{config, multibyte_in_place, mutated};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, crate::Event)]
#[event(name = "herald.test.store_property")]
struct Stocked {
    sku: u64,
    note: String,
}

/// The column names, in [`COLUMNS`] order.
fn columns() -> Vec<&'static str> {
    COLUMNS.split(',').map(str::trim).collect()
}

/// A record a bus made, with metadata that lands in columns of its own.
fn a_record() -> impl Strategy<Value = Record> {
    let phase = proptest::sample::select(vec![Phase::Pending, Phase::Completed, Phase::Failed]);
    (
        any::<u64>(),
        "\\PC{0,16}",
        proptest::option::of("\\PC{0,8}"),
        proptest::option::of("\\PC{0,8}"),
        phase,
    )
        .prop_map(|(sku, note, source, target, phase)| {
            let bus = crate::Bus::builder()
                .registered_handlers(false)
                .build()
                .expect("a bus");
            let mut ev = bus.event(Stocked { sku, note }).phase(phase);
            if let Some(s) = source {
                ev = ev.source(s);
            }
            if let Some(t) = target {
                ev = ev.target(t);
            }
            let id = ev.emit();
            bus.get(id).expect("the record in history")
        })
}

/// A damaged value for a column whose text is `current`.
fn a_damage(current: String) -> impl Strategy<Value = Sql> {
    prop_oneof![
        Just(Sql::Null),
        any::<i64>().prop_map(Sql::Integer),
        any::<f64>().prop_map(Sql::Real),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Sql::Blob),
        "\\PC{0,16}".prop_map(Sql::Text),
        mutated(current.clone()).prop_map(Sql::Text),
        multibyte_in_place(current).prop_map(Sql::Text),
    ]
}

/// A stored record and, for one or two of its columns, a damaged value.
fn a_damaged_row() -> impl Strategy<Value = (Record, Vec<(&'static str, Sql)>)> {
    let column = 0..columns().len();
    (a_record(), column.clone(), column, any::<bool>()).prop_flat_map(|(record, c1, c2, two)| {
        let cols = columns();
        let (c1, c2) = (cols[c1], cols[c2]);
        let d1 = a_damage(text_of(&record, c1));
        let d2 = a_damage(text_of(&record, c2));
        (Just(record), d1, d2).prop_map(move |(record, d1, d2)| {
            let mut damage = vec![(c1, d1)];
            if two {
                damage.push((c2, d2));
            }
            (record, damage)
        })
    })
}

/// The text a column holds for `record` (what a mutation starts from).
fn text_of(record: &Record, column: &str) -> String {
    let text = |s: Option<&str>| s.unwrap_or_default().to_owned();
    match column {
        "id" => record.id().to_string(),
        "name" => record.name().to_owned(),
        "event" => record.event_name().to_owned(),
        "kind" => record.kind().as_str().to_owned(),
        "phase" => record.phase().as_str().to_owned(),
        "timestamp_ns" => super::schema::to_ns(record.timestamp()).to_string(),
        "source" => text(record.source()),
        "target" => text(record.target()),
        "root_id" => record.root_id().to_string(),
        "correlation_id" => record.correlation_id().to_string(),
        "parent_id" => record
            .parent_id()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        "causation_id" => record
            .causation_id()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        _ => record.to_json(),
    }
}

/// One store file for every case, emptied before each.
struct Fixture {
    _dir: tempdir::Dir,
    store: SqliteStore,
    conn: Connection,
}

mod tempdir {
    use std::path::PathBuf;

    pub(super) struct Dir(pub(super) PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!(
            "herald-store-properties-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("events.db");
        let store = SqliteStore::open(&path).expect("open");
        let conn = Connection::open(&path).expect("a second connection");
        Fixture {
            _dir: tempdir::Dir(dir),
            store,
            conn,
        }
    }

    /// Stores `record` alone, written by the store's own insert.
    fn store_only(&self, record: &Record) {
        self.conn
            .execute("DELETE FROM records", [])
            .expect("empty the table");
        let mut insert = self.conn.prepare(INSERT).expect("prepare");
        insert_one(&mut insert, record, &record.to_json()).expect("insert");
    }
}

/// Every read of the store: an answer or a typed error.
fn read_everything(store: &SqliteStore, record: &Record) -> Result<(), TestCaseError> {
    let typed = |e: &StoreError| !e.to_string().is_empty();
    match store.query_stored(&Filter::new()) {
        Ok(rows) => {
            for row in rows {
                if let Err(e) = row.decode() {
                    prop_assert!(!e.to_string().is_empty());
                }
                drop(row.payload_json());
            }
        }
        Err(e) => prop_assert!(typed(&e), "{:?}", e),
    }
    for result in [
        store.query(&Filter::new()).map(drop),
        store.get(record.id()).map(drop),
        store.get_stored(record.id()).map(drop),
        store.tree(record.root_id()).map(drop),
        store.count().map(drop),
    ] {
        if let Err(e) = result {
            prop_assert!(typed(&e), "{:?}", e);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_stored_record_reads_back(record in a_record()) {
        thread_local!(static FIXTURE: Fixture = Fixture::new("round-trip"));
        FIXTURE.with(|f| {
            f.store_only(&record);
            let rows = f.store.query_stored(&Filter::new()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(rows.len(), 1);
            let row = &rows[0];
            prop_assert_eq!(row.id(), record.id());
            prop_assert_eq!(row.name(), record.name());
            prop_assert_eq!(row.timestamp(), record.timestamp());
            prop_assert_eq!(row.source(), record.source());
            prop_assert_eq!(row.target(), record.target());
            prop_assert_eq!(row.phase(), record.phase());
            prop_assert_eq!(row.json(), record.to_json());
            let decoded = row.decode().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(decoded.to_json(), record.to_json());
            Ok(())
        })?;
    }

    #[test]
    fn a_damaged_row_reads_as_a_record_or_a_typed_error((record, damage) in a_damaged_row()) {
        thread_local!(static FIXTURE: Fixture = Fixture::new("damaged"));
        FIXTURE.with(|f| {
            f.store_only(&record);
            for (column, value) in &damage {
                // A NOT NULL column refuses a null: the row keeps its value.
                let _ = f.conn.execute(&format!("UPDATE records SET {column} = ?1"), [value]);
            }
            read_everything(&f.store, &record)
        })?;
    }
}
