//! The JSON form of a record: [`Record::to_json`] and [`registry::decode`](crate::registry::decode).
//!
//! ```json
//! {"id":"…","name":"order.placed","event":"order.placed","version":2,"kind":"notification",
//!  "phase":"pending","timestamp":"2026-11-23T11:30:18.123456789Z","parent_id":null,
//!  "root_id":"…","correlation_id":"…","causation_id":null,"subject":{"type":"Order","id":"…"},
//!  "actor":null,"context":{},"source":null,"target":null,"priority":5,"expires_at":null,
//!  "duration_ns":null,"labels":{},"payload":{…}}
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::{Extra, Links, Meta, Name, Record};
use crate::error::DecodeError;
use crate::event::{EntityRef, Kind, Phase, Priority};
use crate::id::Stamp;
use crate::time_fmt::{format_rfc3339, parse_rfc3339};

/// A record as its JSON carries it, before its payload is decoded.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Wire {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) event: String,
    pub(crate) version: u32,
    pub(crate) kind: Kind,
    pub(crate) phase: Phase,
    pub(crate) timestamp: String,
    pub(crate) parent_id: Option<Uuid>,
    pub(crate) root_id: Uuid,
    pub(crate) correlation_id: Uuid,
    pub(crate) causation_id: Option<Uuid>,
    pub(crate) subject: Option<EntityRef>,
    pub(crate) actor: Option<EntityRef>,
    #[serde(default)]
    pub(crate) context: BTreeMap<String, Uuid>,
    pub(crate) source: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) priority: Priority,
    pub(crate) expires_at: Option<String>,
    pub(crate) duration_ns: Option<u64>,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) payload: serde_json::Value,
}

impl Wire {
    /// Reads the JSON of a record, whatever its event type.
    pub(crate) fn read(json: &str) -> Result<Wire, DecodeError> {
        serde_json::from_str(json).map_err(|e| DecodeError::Malformed(e.to_string()))
    }

    /// When the record was emitted.
    pub(crate) fn timestamp(&self) -> Result<SystemTime, DecodeError> {
        parse_rfc3339(&self.timestamp)
            .ok_or_else(|| DecodeError::Malformed(format!("bad timestamp `{}`", self.timestamp)))
    }
}

impl Record {
    /// The record as one line of JSON; [`registry::decode`](crate::registry::decode)
    /// reads it back with every field.
    pub fn to_json(&self) -> String {
        let m = self.meta();
        let wire = Wire {
            id: m.id,
            name: m.name.as_str().to_owned(),
            event: m.type_key.to_owned(),
            version: m.version,
            kind: m.kind,
            phase: m.phase,
            timestamp: format_rfc3339(m.timestamp.system_time()),
            parent_id: m.links.parent(),
            root_id: m.links.root_id(),
            correlation_id: m.links.correlation_id(),
            causation_id: m.links.causation(),
            subject: self.subject().cloned(),
            actor: self.actor().cloned(),
            context: self.context().clone(),
            source: self.source().map(str::to_owned),
            target: self.target().map(str::to_owned),
            priority: m.priority,
            expires_at: m.expires_at.map(|t| format_rfc3339(t.system_time())),
            duration_ns: m
                .duration
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            labels: self.labels().clone(),
            payload: self.payload_json(),
        };
        serde_json::to_string(&wire)
            .unwrap_or_else(|e| format!("{{\"error\":\"unserializable record: {e}\"}}"))
    }
}

/// The metadata of a record being decoded. Not public API.
#[doc(hidden)]
pub struct DecodedMeta(pub(crate) Meta);

/// `fn(from_version, payload) -> payload at the current version`.
pub type MigrateFn = fn(u32, serde_json::Value) -> Result<serde_json::Value, String>;

/// What decoding needs to know of the event type a record names (its registered
/// descriptor): its name, current version and migration.
pub(crate) struct TypeInfo {
    pub(crate) name: &'static str,
    pub(crate) version: u32,
    pub(crate) migrate: Option<MigrateFn>,
}

impl Wire {
    /// The record's metadata and its payload as JSON, migrated to the current version
    /// of its type (`ty`, found by [`Wire::event`](Wire)).
    pub(crate) fn into_parts(
        self,
        ty: &TypeInfo,
    ) -> Result<(DecodedMeta, serde_json::Value), DecodeError> {
        let wire = self;
        let descriptor = ty;
        let timestamp = Stamp::from_system_time(wire.timestamp()?).ok_or_else(|| {
            DecodeError::Malformed(format!(
                "timestamp `{}` is before 1970 or after 2554",
                wire.timestamp
            ))
        })?;
        let expires_at = match &wire.expires_at {
            // An expiry past 2554 never comes: it reads as none, like a ttl that overflows.
            Some(s) => parse_rfc3339(s)
                .ok_or_else(|| DecodeError::Malformed(format!("bad expires_at `{s}`")))
                .map(Stamp::from_system_time)?,
            None => None,
        };
        let mut payload = wire.payload;
        if wire.version != descriptor.version {
            let unsupported = |migratable| DecodeError::UnsupportedVersion {
                name: wire.event.clone(),
                found: wire.version,
                current: descriptor.version,
                migratable,
            };
            match descriptor.migrate {
                Some(migrate) if wire.version < descriptor.version => {
                    payload = migrate(wire.version, payload).map_err(|_| unsupported(true))?;
                }
                _ => return Err(unsupported(false)),
            }
        }
        let name = if wire.name == descriptor.name {
            Name::Static(descriptor.name)
        } else {
            Name::Shared(wire.name.into())
        };
        let mut meta = Meta::new(
            wire.id,
            name,
            descriptor.name,
            descriptor.version,
            wire.kind,
            wire.phase,
            timestamp,
        );
        meta.links = Links::new(
            wire.parent_id,
            Some(wire.root_id),
            Some(wire.correlation_id),
            wire.causation_id,
        );
        meta.priority = wire.priority;
        meta.expires_at = expires_at;
        meta.duration = wire.duration_ns.map(Duration::from_nanos);
        let extra = Extra {
            subject: wire.subject,
            actor: wire.actor,
            context: wire.context,
            source: wire.source,
            target: wire.target,
            labels: wire.labels,
        };
        let is_empty = extra.subject.is_none()
            && extra.actor.is_none()
            && extra.context.is_empty()
            && extra.source.is_none()
            && extra.target.is_none()
            && extra.labels.is_empty();
        *meta.extra = (!is_empty).then(|| Box::new(extra));
        Ok((DecodedMeta(meta), payload))
    }
}
