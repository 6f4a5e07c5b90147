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

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    id: Uuid,
    name: String,
    event: String,
    version: u32,
    kind: Kind,
    phase: Phase,
    timestamp: String,
    parent_id: Option<Uuid>,
    root_id: Uuid,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    subject: Option<EntityRef>,
    actor: Option<EntityRef>,
    #[serde(default)]
    context: BTreeMap<String, Uuid>,
    source: Option<String>,
    target: Option<String>,
    priority: Priority,
    expires_at: Option<String>,
    duration_ns: Option<u64>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    payload: serde_json::Value,
}

impl Wire {
    fn read(json: &str) -> Result<Wire, DecodeError> {
        serde_json::from_str(json).map_err(|e| DecodeError::Malformed(e.to_string()))
    }

    fn timestamp(&self) -> Result<SystemTime, DecodeError> {
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

/// The columns of a record read from its JSON, whatever its event type (linked into this
/// program or not), for tools that list records from the wire.
#[cfg(feature = "cli")]
pub(crate) fn stored(json: &str) -> Result<crate::store::StoredRecord, DecodeError> {
    let wire = Wire::read(json)?;
    let timestamp = wire.timestamp()?;
    Ok(crate::store::StoredRecord {
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

pub(crate) fn decode(json: &str) -> Result<Record, DecodeError> {
    let wire = Wire::read(json)?;
    let descriptor = crate::registry::descriptor(&wire.event)
        .ok_or_else(|| DecodeError::UnknownName(wire.event.clone()))?;
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
    (descriptor.decode)(DecodedMeta(meta), payload).map_err(|reason| DecodeError::Payload {
        name: descriptor.name.to_owned(),
        reason,
    })
}
