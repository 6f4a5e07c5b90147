//! The emit builder ([`Emit`]) and the outcome of [`Bus::emit_and_wait`] ([`Delivery`]).

use std::time::Duration;

use uuid::Uuid;

use crate::core::Bus;
use crate::envelope::{Extra, Links, Name};
use crate::event::{EntityRef, Event, Phase, Priority};

/// Metadata for one emission; all optional.
#[derive(Default)]
pub(crate) struct EmitOptions {
    pub(crate) name: Option<Name>,
    pub(crate) links: Option<Links>,
    pub(crate) phase: Option<Phase>,
    pub(crate) duration: Option<Duration>,
    pub(crate) priority: Option<Priority>,
    pub(crate) ttl: Option<Duration>,
    /// A clock reading already taken (wall clock, and milliseconds for the id).
    pub(crate) now: Option<crate::id::Stamp>,
    /// The id to use instead of a new one (a request registers it first).
    pub(crate) id: Option<Uuid>,
    /// A request waiting for this record as its response.
    pub(crate) answers: Option<crate::core::answer::Answer>,
    pub(crate) extra: Option<Box<Extra>>,
}

impl EmitOptions {
    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }
}

/// An emission being prepared: `bus.event(ev).source("checkout").priority(Priority::High).emit()`.
///
/// ```
/// use herald::prelude::*;
/// use herald::Priority;
///
/// #[derive(serde::Serialize, serde::Deserialize, Event)]
/// #[event(name = "doc.order_placed")]
/// struct OrderPlaced { id: u64 }
/// struct Order;
///
/// let bus = herald::Bus::builder().registered_handlers(false).build().unwrap();
/// let order = herald::Uuid::nil();
/// let id = bus
///     .event(OrderPlaced { id: 7 })
///     .subject::<Order>(order)
///     .source("checkout")
///     .target("billing")
///     .priority(Priority::High)
///     .label("region", "eu")
///     .emit();
/// let record = bus.get(id).unwrap();
/// assert_eq!(record.subject().unwrap().type_name(), "Order");
/// assert_eq!(record.label("region"), Some("eu"));
/// ```
#[must_use = "an event is only sent by `.emit()` or `.emit_and_wait()`"]
pub struct Emit<'a, E: Event> {
    pub(crate) bus: &'a Bus,
    pub(crate) payload: E,
    pub(crate) opts: EmitOptions,
}

impl<E: Event> Emit<'_, E> {
    /// The entity this event is about, of type `T`.
    pub fn subject<T: ?Sized>(mut self, id: Uuid) -> Self {
        self.opts.extra().subject = Some(EntityRef::of::<T>(id));
        self
    }
    /// The entity this event is about, by reference.
    pub fn subject_ref(mut self, entity: EntityRef) -> Self {
        self.opts.extra().subject = Some(entity);
        self
    }
    /// The entity that caused it, of type `T`.
    pub fn actor<T: ?Sized>(mut self, id: Uuid) -> Self {
        self.opts.extra().actor = Some(EntityRef::of::<T>(id));
        self
    }
    /// The entity that caused it, by reference.
    pub fn actor_ref(mut self, entity: EntityRef) -> Self {
        self.opts.extra().actor = Some(entity);
        self
    }
    /// Another involved entity, by role.
    pub fn context(mut self, role: impl Into<String>, id: Uuid) -> Self {
        self.opts.extra().context.insert(role.into(), id);
        self
    }
    /// Where it comes from.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.opts.extra().source = Some(source.into());
        self
    }
    /// Whom it is for.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.opts.extra().target = Some(target.into());
        self
    }
    /// Its priority.
    pub fn priority(mut self, priority: impl Into<Priority>) -> Self {
        self.opts.priority = Some(priority.into());
        self
    }
    /// A string label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.opts.extra().labels.insert(key.into(), value.into());
        self
    }
    /// Time to live, overriding the type's `ttl`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.opts.ttl = Some(ttl);
        self
    }
    /// The phase, overriding the type's.
    pub fn phase(mut self, phase: Phase) -> Self {
        self.opts.phase = Some(phase);
        self
    }
    /// Emits: runs sync handlers inline, schedules async ones, returns the id.
    pub fn emit(self) -> Uuid {
        self.bus.dispatch(self.payload, self.opts, None)
    }
    /// Emits and waits until every matching handler, sync and async, has finished.
    pub async fn emit_and_wait(self) -> Delivery {
        self.bus.dispatch_and_wait(self.payload, self.opts).await
    }
}

/// What [`Bus::emit_and_wait`] saw happen to one emission.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The emitted record's id.
    pub id: Uuid,
    /// Handlers that ran and succeeded.
    pub handled: usize,
    /// Handlers that returned `Err` or panicked.
    pub failed: usize,
    /// Handlers routed to this record but skipped by a filter or a pause.
    pub filtered: usize,
    /// Handlers skipped because the record had expired.
    pub expired: usize,
    /// Deliveries refused or dropped by a full queue.
    pub dropped: usize,
}
