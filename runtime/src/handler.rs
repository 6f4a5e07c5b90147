//! What `#[on]` registers: a handler's static description ([`HandlerDescriptor`]) and
//! the plain types its callbacks take and give. Plain data: the routing and delivery of
//! live subscriptions are the bus's.

use std::any::TypeId;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::envelope::{ErasedEnvelope, Record};
use crate::event::{Event, Kind, Phase};

/// What a handler invocation came to: `Err` carries the failure text (boxed, so that an
/// outcome is two words and comes back in registers). Not public API.
#[doc(hidden)]
pub type Outcome = Result<(), Box<str>>;

/// A boxed, sendable future. Not public API.
#[doc(hidden)]
pub type BoxFuture = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// What a sync handler or a predicate is given. Not public API.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct HandlerInput<'a> {
    #[doc(hidden)]
    pub envelope: &'a ErasedEnvelope,
    #[doc(hidden)]
    pub record: Option<&'a Record>,
}

/// The event type a subscription routes on. Not public API.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct EventKey {
    #[doc(hidden)]
    pub type_id: fn() -> TypeId,
    #[doc(hidden)]
    pub name: &'static str,
    #[doc(hidden)]
    pub type_name: fn() -> &'static str,
}

impl EventKey {
    /// The key of `T`. Not public API.
    #[doc(hidden)]
    pub const fn of<T: Event>() -> EventKey {
        EventKey {
            type_id: TypeId::of::<T>,
            name: T::NAME,
            type_name: std::any::type_name::<T>,
        }
    }
}

/// How a registered handler is called. Not public API.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum HandlerCall {
    /// Runs inline in `emit`.
    Sync(fn(HandlerInput<'_>) -> Outcome),
    /// Runs as a task.
    Async(fn(Record) -> BoxFuture),
}

/// A subscription declared with `#[on]`; add one to a bus by hand with
/// [`subscription!`](crate::subscription!) and
/// [`Builder::subscription`](crate::bus::Builder::subscription).
#[derive(Clone, Copy)]
pub struct HandlerDescriptor {
    #[doc(hidden)]
    pub name: &'static str,
    #[doc(hidden)]
    pub group: &'static str,
    #[doc(hidden)]
    pub priority: i32,
    #[doc(hidden)]
    pub event: Option<EventKey>,
    #[doc(hidden)]
    pub pattern: Option<&'static str>,
    #[doc(hidden)]
    pub phase: Option<Phase>,
    #[doc(hidden)]
    pub kind: Option<Kind>,
    #[doc(hidden)]
    pub source: Option<&'static str>,
    #[doc(hidden)]
    pub when: Option<fn(HandlerInput<'_>) -> bool>,
    #[doc(hidden)]
    pub wants_record: bool,
    #[doc(hidden)]
    pub concurrency: u32,
    #[doc(hidden)]
    pub retry: u32,
    #[doc(hidden)]
    pub backoff: std::time::Duration,
    #[doc(hidden)]
    pub shared: bool,
    #[doc(hidden)]
    pub call: HandlerCall,
}

impl HandlerDescriptor {
    /// The subscription name (`module_path::fn_name` unless `name = ".."` was given).
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// The group it belongs to.
    pub fn group(&self) -> &'static str {
        self.group
    }
    /// Its priority: higher runs first.
    pub fn priority(&self) -> i32 {
        self.priority
    }
    /// The event type it routes on, if any.
    pub fn event_name(&self) -> Option<&'static str> {
        self.event.map(|e| e.name)
    }
    /// Its name pattern, if any.
    pub fn pattern(&self) -> Option<&'static str> {
        self.pattern
    }
    /// Whether the handler is `async`.
    pub fn is_async(&self) -> bool {
        matches!(self.call, HandlerCall::Async(_))
    }
    /// Whether it runs once across the processes of a transport (`shared`).
    pub fn is_shared(&self) -> bool {
        self.shared
    }
}

impl fmt::Debug for HandlerDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerDescriptor")
            .field("name", &self.name)
            .field("group", &self.group)
            .field("priority", &self.priority)
            .field("event", &self.event_name())
            .field("pattern", &self.pattern)
            .field("async", &self.is_async())
            .finish_non_exhaustive()
    }
}
