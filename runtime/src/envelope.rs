//! [`Envelope`] (a typed payload with its metadata) and [`Record`] (the same, type-erased
//! and shared).

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use crate::event::{EntityRef, Event, Kind, Phase, Priority};
use crate::id::Stamp;

/// A record name: the type's `NAME`, or a name chosen per emission (lifecycle events).
#[derive(Clone)]
pub(crate) enum Name {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Name::Static(s) => s,
            Name::Shared(s) => s,
        }
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Where a record sits in its tree. Ids are kept as aligned `u128`s (0 = none, as v7
/// ids are never nil) so that copying links in and out of thread-locals is cheap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Links {
    parent: u128,
    root: u128,
    correlation: u128,
    causation: u128,
}

#[inline]
fn pack(id: Option<Uuid>) -> u128 {
    id.map_or(0, |id| id.as_u128())
}

#[inline]
fn unpack(id: u128) -> Option<Uuid> {
    (id != 0).then(|| Uuid::from_u128(id))
}

impl Links {
    pub(crate) const EMPTY: Links = Links {
        parent: 0,
        root: 0,
        correlation: 0,
        causation: 0,
    };

    #[inline]
    pub(crate) fn new(
        parent: Option<Uuid>,
        root: Option<Uuid>,
        correlation: Option<Uuid>,
        causation: Option<Uuid>,
    ) -> Links {
        Links {
            parent: pack(parent),
            root: pack(root),
            correlation: pack(correlation),
            causation: pack(causation),
        }
    }

    #[inline]
    pub(crate) fn parent(&self) -> Option<Uuid> {
        unpack(self.parent)
    }
    #[inline]
    pub(crate) fn root(&self) -> Option<Uuid> {
        unpack(self.root)
    }
    /// The root of a record's links (always set there).
    #[inline]
    pub(crate) fn root_id(&self) -> Uuid {
        Uuid::from_u128(self.root)
    }
    /// The correlation of a record's links (always set there).
    #[inline]
    pub(crate) fn correlation_id(&self) -> Uuid {
        Uuid::from_u128(self.correlation)
    }
    #[inline]
    pub(crate) fn correlation(&self) -> Option<Uuid> {
        unpack(self.correlation)
    }
    #[inline]
    pub(crate) fn causation(&self) -> Option<Uuid> {
        unpack(self.causation)
    }

    /// The same links outside any tree (for a `root` call): only the correlation and
    /// the causation stay.
    #[inline]
    pub(crate) fn detached(self) -> Links {
        Links {
            parent: 0,
            root: 0,
            ..self
        }
    }

    /// The links the record `id`, emitted in a context with these links, gets: it is
    /// its own root and correlation when the context has none, and inside a call it is
    /// caused by the call unless said otherwise.
    #[inline]
    pub(crate) fn of_record(self, id: Uuid) -> Links {
        let id = id.as_u128();
        let or_id = |v: u128| if v == 0 { id } else { v };
        Links {
            parent: self.parent,
            root: or_id(self.root),
            correlation: or_id(self.correlation),
            causation: if self.causation == 0 {
                self.parent
            } else {
                self.causation
            },
        }
    }

    /// The links of the closing record of an operation whose started event `started`
    /// has these links: beside it in the tree, caused by it.
    #[inline]
    pub(crate) fn closing(self, started: Uuid) -> Links {
        Links {
            causation: started.as_u128(),
            ..self.of_record(started)
        }
    }

    /// The links of what happens inside an operation whose closing record has these
    /// links (their causation is the operation's started event).
    #[inline]
    pub(crate) fn inside_closed(self) -> Links {
        Links {
            parent: self.causation,
            causation: 0,
            ..self
        }
    }

    /// The links handlers of the record `id`, whose own links these are, run under
    /// (and the links of the events they return): what they emit, call and spawn nests
    /// under the record, caused by it, in its tree and correlation.
    #[inline]
    pub(crate) fn handled(self, id: Uuid) -> Links {
        let id = id.as_u128();
        Links {
            parent: id,
            causation: id,
            ..self
        }
    }
}

/// Everything about an emission except its payload.
#[derive(Clone, Debug)]
pub(crate) struct Meta {
    /// The payload's type; always set by [`Envelope::new`], so it can be trusted for
    /// downcasts.
    type_id: TypeId,
    pub(crate) id: Uuid,
    pub(crate) name: Name,
    /// `NAME` of the payload's type (differs from `name` for lifecycle events).
    pub(crate) type_key: &'static str,
    pub(crate) version: u32,
    pub(crate) kind: Kind,
    pub(crate) phase: Phase,
    /// When it was emitted, kept as read from the clock ([`Envelope::timestamp`] turns
    /// it into a `SystemTime`).
    pub(crate) timestamp: Stamp,
    /// Parent, root, correlation and causation. Root and correlation are always set
    /// (a record emitted outside any call is its own root); a nil id reads as none.
    pub(crate) links: Links,
    pub(crate) priority: Priority,
    /// When it stops being delivered; none past the year 2554, the end of a [`Stamp`].
    pub(crate) expires_at: Option<Stamp>,
    pub(crate) duration: Option<Duration>,
    /// Metadata most emissions do not set, boxed so the common path stays small.
    pub(crate) extra: Extras,
}

/// A record's [`Extra`], when it has any: an `Option<Box<Extra>>` whose drop checks for
/// none inline (the drop of an `Extra` itself is large, and most records have none).
#[derive(Clone, Debug, Default)]
pub(crate) struct Extras(pub(crate) Option<Box<Extra>>);

impl Drop for Extras {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(extra) = self.0.take() {
            drop_extra(extra);
        }
    }
}

#[cold]
#[inline(never)]
fn drop_extra(extra: Box<Extra>) {
    drop(extra);
}

impl std::ops::Deref for Extras {
    type Target = Option<Box<Extra>>;
    #[inline]
    fn deref(&self) -> &Option<Box<Extra>> {
        &self.0
    }
}

impl std::ops::DerefMut for Extras {
    #[inline]
    fn deref_mut(&mut self) -> &mut Option<Box<Extra>> {
        &mut self.0
    }
}

/// The optional metadata of a record.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extra {
    pub(crate) subject: Option<EntityRef>,
    pub(crate) actor: Option<EntityRef>,
    pub(crate) context: BTreeMap<String, Uuid>,
    pub(crate) source: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
}

static NO_CONTEXT: BTreeMap<String, Uuid> = BTreeMap::new();
static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl Meta {
    /// Metadata for a new record; `type_id` is filled in by [`Envelope::new`].
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn new(
        id: Uuid,
        name: Name,
        type_key: &'static str,
        version: u32,
        kind: Kind,
        phase: Phase,
        timestamp: Stamp,
    ) -> Meta {
        Meta {
            type_id: TypeId::of::<()>(),
            id,
            name,
            type_key,
            version,
            kind,
            phase,
            timestamp,
            links: Links::new(None, Some(id), Some(id), None),
            priority: Priority::Normal,
            expires_at: None,
            duration: None,
            extra: Extras(None),
        }
    }

    /// The links that a child of this record gets (see [`Links::handled`]).
    pub(crate) fn child_links(&self) -> Links {
        self.links.handled(self.id)
    }
}

/// A payload together with its metadata, as handlers receive it.
///
/// `Envelope<T>` is what a handler taking `&Envelope<T>` gets; [`Record`] is the
/// type-erased, shareable form of the same thing. The accessors are the same on both.
pub struct Envelope<T: ?Sized> {
    pub(crate) meta: Meta,
    pub(crate) payload: T,
}

/// The type-erased payload behind a [`Record`]. Not public API.
#[doc(hidden)]
pub trait Payload: Any + Send + Sync {
    #[doc(hidden)]
    fn __as_any(&self) -> &dyn Any;
    #[doc(hidden)]
    fn __to_json(&self) -> Result<serde_json::Value, serde_json::Error>;
    #[doc(hidden)]
    fn __type_name(&self) -> &'static str;
}

impl<T: Event> Payload for T {
    fn __as_any(&self) -> &dyn Any {
        self
    }
    fn __to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }
    fn __type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

/// An envelope whose payload type is erased. Not public API.
#[doc(hidden)]
pub type ErasedEnvelope = Envelope<dyn Payload>;

impl<T: ?Sized> Envelope<T> {
    /// Unique, time-ordered id of this emission.
    pub fn id(&self) -> Uuid {
        self.meta.id
    }
    /// The record name.
    pub fn name(&self) -> &str {
        self.meta.name.as_str()
    }
    /// The payload version.
    pub fn version(&self) -> u32 {
        self.meta.version
    }
    /// The event kind.
    pub fn kind(&self) -> Kind {
        self.meta.kind
    }
    /// The phase.
    pub fn phase(&self) -> Phase {
        self.meta.phase
    }
    /// When it was emitted: the wall clock, which herald reads through the CPU's
    /// time-stamp counter on x86-64 Linux when the kernel keeps time with it (a reading
    /// stays within a few microseconds of `SystemTime::now`).
    pub fn timestamp(&self) -> SystemTime {
        self.meta.timestamp.system_time()
    }
    /// The event that was current in the nesting context when this one was emitted.
    pub fn parent_id(&self) -> Option<Uuid> {
        self.meta.links.parent()
    }
    /// The root of this record's tree (its own id when it has no parent).
    pub fn root_id(&self) -> Uuid {
        self.meta.links.root_id()
    }
    /// Shared by a whole causal chain, across roots and processes.
    pub fn correlation_id(&self) -> Uuid {
        self.meta.links.correlation_id()
    }
    /// The event that directly caused this one.
    pub fn causation_id(&self) -> Option<Uuid> {
        self.meta.links.causation()
    }
    /// The entity this event is about.
    pub fn subject(&self) -> Option<&EntityRef> {
        self.meta.extra.as_ref()?.subject.as_ref()
    }
    /// The entity that caused it.
    pub fn actor(&self) -> Option<&EntityRef> {
        self.meta.extra.as_ref()?.actor.as_ref()
    }
    /// Other involved entities, by role.
    pub fn context(&self) -> &BTreeMap<String, Uuid> {
        self.meta.extra.as_ref().map_or(&NO_CONTEXT, |e| &e.context)
    }
    /// Where it comes from.
    pub fn source(&self) -> Option<&str> {
        self.meta.extra.as_ref()?.source.as_deref()
    }
    /// Whom it is for.
    pub fn target(&self) -> Option<&str> {
        self.meta.extra.as_ref()?.target.as_deref()
    }
    /// Its priority.
    pub fn priority(&self) -> Priority {
        self.meta.priority
    }
    /// When it stops being delivered (none when it never expires; an expiry past the
    /// year 2554 counts as never).
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.meta.expires_at.map(Stamp::system_time)
    }
    /// Whether it has expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }
    /// How long the operation took (completed, failed and cancelled lifecycle events).
    pub fn duration(&self) -> Option<Duration> {
        self.meta.duration
    }
    /// String key/value metadata.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.meta.extra.as_ref().map_or(&NO_LABELS, |e| &e.labels)
    }
    /// One label.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels().get(key).map(String::as_str)
    }
}

impl<T: Event> Envelope<T> {
    /// Builds an envelope from metadata: it records `T`'s `TypeId` in it.
    #[inline]
    pub(crate) fn new(mut meta: Meta, payload: T) -> Envelope<T> {
        meta.type_id = TypeId::of::<T>();
        Envelope { meta, payload }
    }

    /// The envelope of a new emission, built in place (one literal, so the optimizer
    /// writes it where it lives instead of moving a `Meta` into it): the other
    /// constructor, also recording `T`'s `TypeId`. `links` are the context's.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn emitted(
        payload: T,
        id: Uuid,
        name: Name,
        phase: Phase,
        timestamp: Stamp,
        links: Links,
        priority: Priority,
        expires_at: Option<Stamp>,
        duration: Option<Duration>,
        extra: Option<Box<Extra>>,
    ) -> Envelope<T> {
        let links = links.of_record(id);
        Envelope {
            meta: Meta {
                type_id: TypeId::of::<T>(),
                id,
                name,
                type_key: T::NAME,
                version: T::VERSION,
                kind: T::KIND,
                phase,
                timestamp,
                links,
                priority,
                expires_at,
                duration,
                extra: Extras(extra),
            },
            payload,
        }
    }
}

impl<T> Envelope<T> {
    /// The typed payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }
}

impl ErasedEnvelope {
    /// The envelope with its payload type, when it is `T`.
    #[doc(hidden)]
    #[inline]
    pub fn __downcast<T: Event>(&self) -> Option<&Envelope<T>> {
        if self.meta.type_id == TypeId::of::<T>() {
            let ptr = std::ptr::from_ref(self).cast::<Envelope<T>>();
            // SAFETY: an `Envelope<dyn Payload>` only ever comes from unsizing an
            // `Envelope<P>` built by `Envelope::new`, which stores `P`'s `TypeId` in the
            // (private) metadata; it says `P` is `T`, so the pointee is an `Envelope<T>`
            // and dropping the vtable half of the pointer is exact.
            Some(unsafe { &*ptr })
        } else {
            None
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Envelope<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("id", &self.meta.id)
            .field("name", &self.meta.name)
            .field("phase", &self.meta.phase)
            .field("parent_id", &self.parent_id())
            .field("payload", &self.payload)
            .finish_non_exhaustive()
    }
}

/// A type-erased, cheaply clonable record of one emission.
///
/// Records are what history, dead letters, the store and `&Record` handlers see. The
/// payload is reachable typed with [`downcast_ref`](Record::downcast_ref) or as JSON
/// with [`payload_json`](Record::payload_json).
#[derive(Clone)]
pub struct Record(pub(crate) Arc<ErasedEnvelope>);

impl Record {
    pub(crate) fn new<T: Event>(env: Envelope<T>) -> Record {
        let arc: Arc<ErasedEnvelope> = Arc::new(env);
        Record(arc)
    }

    /// The envelope behind the record. Not public API.
    #[doc(hidden)]
    pub fn __envelope(&self) -> &ErasedEnvelope {
        &self.0
    }

    /// The payload, when it is a `T`.
    pub fn downcast_ref<T: Event>(&self) -> Option<&T> {
        self.0.__downcast::<T>().map(Envelope::payload)
    }

    /// The typed envelope, when the payload is a `T`.
    pub fn downcast<T: Event>(&self) -> Option<&Envelope<T>> {
        self.0.__downcast::<T>()
    }

    /// Whether the payload is a `T`.
    pub fn is<T: Event>(&self) -> bool {
        self.0.__downcast::<T>().is_some()
    }

    /// The payload as JSON.
    pub fn payload_json(&self) -> serde_json::Value {
        self.0
            .payload
            .__to_json()
            .unwrap_or_else(|e| serde_json::Value::String(format!("<unserializable payload: {e}>")))
    }

    /// The Rust type name of the payload.
    pub fn type_name(&self) -> &'static str {
        self.0.payload.__type_name()
    }

    /// The `NAME` of the payload's event type (equal to [`name`](Envelope::name) except
    /// for lifecycle events, whose record names are per operation).
    pub fn event_name(&self) -> &'static str {
        self.0.meta.type_key
    }

    /// Whether two records are the same emission (same allocation).
    pub fn ptr_eq(a: &Record, b: &Record) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    pub(crate) fn meta(&self) -> &Meta {
        &self.0.meta
    }
}

impl std::ops::Deref for Record {
    type Target = ErasedEnvelope;

    fn deref(&self) -> &ErasedEnvelope {
        &self.0
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("id", &self.0.meta.id)
            .field("name", &self.0.meta.name)
            .field("phase", &self.0.meta.phase)
            .field("parent_id", &self.parent_id())
            .field("root_id", &self.root_id())
            .field("payload", &self.payload_json())
            .finish_non_exhaustive()
    }
}
