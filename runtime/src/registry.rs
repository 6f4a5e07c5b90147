//! Link-time registries: event types (for decoding by name) and `#[on]` subscriptions.
//!
//! `#[derive(Event)]` registers every non-generic event type and `#[on]` registers every
//! handler, through `inventory`. Registration happens when the program is linked, so a
//! crate that nothing references may be left out; [`subscriptions`] lists what the
//! linker kept, for a startup check.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;

use crate::core::subscription::HandlerDescriptor;
use crate::envelope::{Envelope, Record};
use crate::error::{DecodeError, RegistryError};
use crate::event::{Event, Kind};
pub use crate::json::MigrateFn;
use crate::json::{DecodedMeta, TypeInfo, Wire};

/// What `#[derive(Event)]` registers for a non-generic event type.
#[derive(Clone, Copy)]
pub struct EventDescriptor {
    #[doc(hidden)]
    pub name: &'static str,
    #[doc(hidden)]
    pub version: u32,
    #[doc(hidden)]
    pub kind: Kind,
    #[doc(hidden)]
    pub type_name: fn() -> &'static str,
    #[doc(hidden)]
    pub type_id: fn() -> TypeId,
    #[doc(hidden)]
    pub decode: fn(DecodedMeta, serde_json::Value) -> Result<Record, String>,
    #[doc(hidden)]
    pub migrate: Option<MigrateFn>,
}

impl EventDescriptor {
    /// The descriptor of `T`. Not public API.
    #[doc(hidden)]
    pub const fn __of<T: Event + DeserializeOwned>(migrate: Option<MigrateFn>) -> EventDescriptor {
        EventDescriptor {
            name: T::NAME,
            version: T::VERSION,
            kind: T::KIND,
            type_name: std::any::type_name::<T>,
            type_id: TypeId::of::<T>,
            decode: decode_as::<T>,
            migrate,
        }
    }

    /// The record name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// The current version.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The Rust type name.
    pub fn type_name(&self) -> &'static str {
        (self.type_name)()
    }
}

impl std::fmt::Debug for EventDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventDescriptor")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("kind", &self.kind)
            .field("type", &self.type_name())
            .finish()
    }
}

fn decode_as<T: Event + DeserializeOwned>(
    meta: DecodedMeta,
    payload: serde_json::Value,
) -> Result<Record, String> {
    let payload: T = serde_json::from_value(payload).map_err(|e| e.to_string())?;
    Ok(Record::new(Envelope::new(meta.0, payload)))
}

inventory::collect!(EventDescriptor);
inventory::collect!(HandlerDescriptor);

struct Index {
    by_name: BTreeMap<&'static str, Vec<&'static EventDescriptor>>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_name: BTreeMap<&'static str, Vec<&'static EventDescriptor>> = BTreeMap::new();
        for d in inventory::iter::<EventDescriptor> {
            let entry = by_name.entry(d.name).or_default();
            if !entry.iter().any(|e| (e.type_id)() == (d.type_id)()) {
                entry.push(d);
            }
        }
        Index { by_name }
    })
}

/// The registered type for a record name (the first one when the name is duplicated).
pub(crate) fn descriptor(name: &str) -> Option<&'static EventDescriptor> {
    index().by_name.get(name).and_then(|v| v.first().copied())
}

/// Every registered event type, by name.
pub fn events() -> Vec<&'static EventDescriptor> {
    index().by_name.values().flatten().copied().collect()
}

/// Every `#[on]` subscription the linker registered, in name order.
///
/// ```
/// # use herald::prelude::*;
/// # #[derive(serde::Serialize, serde::Deserialize, Event)] #[event(name = "doc.ping")] struct Ping;
/// #[on(Ping, group = "doc")]
/// fn pong(_: &Ping) {}
///
/// let names: Vec<_> = herald::registry::subscriptions().iter().map(|s| s.name()).collect();
/// assert!(names.iter().any(|n| n.ends_with("::pong")));
/// ```
pub fn subscriptions() -> Vec<&'static HandlerDescriptor> {
    let mut all: Vec<_> = inventory::iter::<HandlerDescriptor>.into_iter().collect();
    all.sort_by_key(|d| d.name);
    all
}

/// Checks that no two event types are registered under one name.
///
/// ```
/// herald::registry::check().expect("event names are unique");
/// ```
pub fn check() -> Result<(), RegistryError> {
    for (name, descriptors) in &index().by_name {
        if descriptors.len() > 1 {
            let mut types: Vec<String> = descriptors
                .iter()
                .map(|d| d.type_name().to_owned())
                .collect();
            types.sort();
            return Err(RegistryError {
                name: (*name).to_owned(),
                types,
            });
        }
    }
    Ok(())
}

/// Decodes a record written by [`Record::to_json`], by its registered event name.
///
/// Bad input is a typed error, never a panic:
///
/// ```
/// use herald::error::DecodeError;
///
/// assert!(matches!(herald::registry::decode("{not json"), Err(DecodeError::Malformed(_))));
/// ```
pub fn decode(json: &str) -> Result<Record, DecodeError> {
    let wire = Wire::read(json)?;
    let descriptor =
        descriptor(&wire.event).ok_or_else(|| DecodeError::UnknownName(wire.event.clone()))?;
    let (meta, payload) = wire.into_parts(&TypeInfo {
        name: descriptor.name,
        version: descriptor.version,
        migrate: descriptor.migrate,
    })?;
    (descriptor.decode)(meta, payload).map_err(|reason| DecodeError::Payload {
        name: descriptor.name.to_owned(),
        reason,
    })
}
