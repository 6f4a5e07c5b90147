//! [`StoredRecord`]: one row of the store, readable without its event type.

use std::time::{Duration, SystemTime};

use uuid::Uuid;

use super::schema::from_ns;
use crate::envelope::Record;
use crate::error::DecodeError;
use crate::event::{Kind, Phase};
use crate::tree::TreeNode;

/// One stored record as the file holds it: the indexed columns and the full JSON
/// ([`Record::to_json`]).
///
/// Unlike a [`Record`], it needs no event type linked into the program, so tools can
/// list and render stores written by any program; [`decode`](Self::decode) turns it into
/// a `Record` where the type is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) event: String,
    pub(crate) kind: Kind,
    pub(crate) phase: Phase,
    pub(crate) timestamp: SystemTime,
    pub(crate) source: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) root_id: Uuid,
    pub(crate) correlation_id: Uuid,
    pub(crate) parent_id: Option<Uuid>,
    pub(crate) causation_id: Option<Uuid>,
    pub(crate) duration: Option<Duration>,
    pub(crate) json: String,
}

impl StoredRecord {
    /// The columns of a record read from its JSON ([`Record::to_json`]), whatever its
    /// event type (linked into this program or not), for tools that list records from
    /// the wire.
    #[cfg(feature = "cli")]
    pub(crate) fn from_json(json: &str) -> Result<StoredRecord, DecodeError> {
        let wire = crate::json::Wire::read(json)?;
        let timestamp = wire.timestamp()?;
        Ok(StoredRecord {
            id: wire.id,
            name: wire.name,
            event: wire.event,
            kind: wire.kind,
            phase: wire.phase,
            timestamp,
            source: wire.source,
            target: wire.target,
            root_id: wire.root_id,
            correlation_id: wire.correlation_id,
            parent_id: wire.parent_id,
            causation_id: wire.causation_id,
            duration: wire.duration_ns.map(Duration::from_nanos),
            json: json.to_owned(),
        })
    }

    /// Reads a row selected with [`COLUMNS`](super::schema::COLUMNS).
    pub(super) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRecord> {
        StoredRecord::from_row_at(row, 0)
    }

    /// Reads the [`COLUMNS`](super::schema::COLUMNS) of a row that start at column `at`.
    pub(super) fn from_row_at(
        row: &rusqlite::Row<'_>,
        at: usize,
    ) -> rusqlite::Result<StoredRecord> {
        let uuid = |i: usize| -> rusqlite::Result<Uuid> {
            let text: String = row.get(i)?;
            Uuid::parse_str(&text).map_err(|e| bad_column(i, e))
        };
        let opt_uuid = |i: usize| -> rusqlite::Result<Option<Uuid>> {
            let text: Option<String> = row.get(i)?;
            text.map(|t| Uuid::parse_str(&t).map_err(|e| bad_column(i, e)))
                .transpose()
        };
        let kind: String = row.get(at + 3)?;
        let phase: String = row.get(at + 4)?;
        let duration: Option<i64> = row.get(at + 12)?;
        Ok(StoredRecord {
            id: uuid(at)?,
            name: row.get(at + 1)?,
            event: row.get(at + 2)?,
            kind: kind.parse().map_err(|e| bad_column(at + 3, e))?,
            phase: phase.parse().map_err(|e| bad_column(at + 4, e))?,
            timestamp: from_ns(row.get(at + 5)?),
            source: row.get(at + 6)?,
            target: row.get(at + 7)?,
            root_id: uuid(at + 8)?,
            correlation_id: uuid(at + 9)?,
            parent_id: opt_uuid(at + 10)?,
            causation_id: opt_uuid(at + 11)?,
            duration: duration.map(|ns| Duration::from_nanos(ns.unsigned_abs())),
            json: row.get(at + 13)?,
        })
    }

    /// The record id.
    pub fn id(&self) -> Uuid {
        self.id
    }
    /// The record name (per operation for lifecycle events: `checkout.pay.started`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The `NAME` of the payload's event type (`herald.started` for lifecycle events).
    pub fn event(&self) -> &str {
        &self.event
    }
    /// The event kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }
    /// When it was emitted.
    pub fn timestamp(&self) -> SystemTime {
        self.timestamp
    }
    /// Where it came from.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
    /// Whom it was for.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }
    /// The root of its tree.
    pub fn root_id(&self) -> Uuid {
        self.root_id
    }
    /// Its causal chain.
    pub fn correlation_id(&self) -> Uuid {
        self.correlation_id
    }
    /// The event it nests under.
    pub fn parent_id(&self) -> Option<Uuid> {
        self.parent_id
    }
    /// The event that directly caused it.
    pub fn causation_id(&self) -> Option<Uuid> {
        self.causation_id
    }
    /// How long the operation took (completed, failed and cancelled lifecycle events).
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }
    /// The record as one line of JSON, as [`Record::to_json`] wrote it.
    pub fn json(&self) -> &str {
        &self.json
    }
    /// The payload as JSON (`Null` when the stored JSON has none).
    pub fn payload_json(&self) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&self.json)
            .ok()
            .and_then(|mut v| v.get_mut("payload").map(serde_json::Value::take))
            .unwrap_or(serde_json::Value::Null)
    }
    /// The record, decoded by its registered event type
    /// ([`registry::decode`](crate::registry::decode)).
    pub fn decode(&self) -> Result<Record, DecodeError> {
        crate::registry::decode(&self.json)
    }
}

impl crate::tree::sealed::Sealed for StoredRecord {}

impl TreeNode for StoredRecord {
    fn node_id(&self) -> Uuid {
        self.id()
    }
    fn node_parent(&self) -> Option<Uuid> {
        self.parent_id()
    }
    fn node_cause(&self) -> Option<Uuid> {
        self.causation_id()
    }
    fn node_name(&self) -> &str {
        self.name()
    }
    fn node_phase(&self) -> Phase {
        self.phase()
    }
    fn node_duration(&self) -> Option<Duration> {
        self.duration()
    }
    fn node_error(&self) -> Option<String> {
        crate::tree::error_of(&self.payload_json())
    }
}

fn bad_column(index: usize, e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        e.to_string().into(),
    )
}
