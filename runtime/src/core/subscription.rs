//! Subscriptions: what `#[on]` registers, what `subscribe` creates, and how a handler's
//! return value becomes an outcome.

use std::any::TypeId;
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::core::counter::Counter;
use crate::envelope::{Envelope, ErasedEnvelope, Record};
use crate::event::{Event, Kind, Phase};
use crate::glob::Glob;
pub use crate::handler::{
    BoxFuture, EventKey, HandlerCall, HandlerDescriptor, HandlerInput, Outcome,
};

pub(crate) type SyncFn = dyn Fn(HandlerInput<'_>) -> Outcome + Send + Sync;
pub(crate) type AsyncFn = dyn Fn(Record) -> BoxFuture + Send + Sync;
pub(crate) type PredicateFn = dyn Fn(HandlerInput<'_>) -> bool + Send + Sync;

pub(crate) enum Callback {
    Sync(Arc<SyncFn>),
    Async(Arc<AsyncFn>),
}

/// A subscription live on one bus.
pub(crate) struct Subscription {
    pub(crate) name: Cow<'static, str>,
    pub(crate) group: Cow<'static, str>,
    pub(crate) priority: i32,
    pub(crate) event: Option<(TypeId, &'static str)>,
    pub(crate) pattern: Option<Glob>,
    pub(crate) phase: Option<Phase>,
    pub(crate) kind: Option<Kind>,
    pub(crate) source: Option<Cow<'static, str>>,
    pub(crate) when: Option<Arc<PredicateFn>>,
    pub(crate) wants_record: bool,
    pub(crate) callback: Callback,
    pub(crate) paused: AtomicBool,
    pub(crate) delivered: Counter,
    pub(crate) failed: Counter,
    /// True when any filter beyond type and pattern is set (checked per emit).
    pub(crate) filtered: bool,
    /// Retries after the first failed attempt.
    pub(crate) retry: u32,
    /// Wait before the first retry (doubling, capped by the bus).
    pub(crate) backoff: std::time::Duration,
    /// Bounded queue and worker limit of an async handler with `concurrency = N`.
    pub(crate) queue: Option<Arc<crate::core::SubQueue>>,
    /// Runs once across the processes of a transport (see `crate::transport`).
    pub(crate) shared: bool,
    /// Latency of its invocations.
    pub(crate) stats: crate::core::counters::HandlerStats,
}

impl Subscription {
    pub(crate) fn from_descriptor(d: &HandlerDescriptor, queue_capacity: usize) -> Subscription {
        let callback = match d.call {
            HandlerCall::Sync(f) => Callback::Sync(Arc::new(f)),
            HandlerCall::Async(f) => Callback::Async(Arc::new(f)),
        };
        Subscription::new(SubscriptionSpec {
            name: Cow::Borrowed(d.name),
            group: Cow::Borrowed(d.group),
            priority: d.priority,
            event: d.event.map(|e| ((e.type_id)(), e.name)),
            pattern: d.pattern.map(Glob::new),
            phase: d.phase,
            kind: d.kind,
            source: d.source.map(Cow::Borrowed),
            when: d.when.map(|f| Arc::new(f) as Arc<PredicateFn>),
            wants_record: d.wants_record,
            callback,
            concurrency: d.concurrency,
            retry: d.retry,
            backoff: d.backoff,
            shared: d.shared,
            queue_capacity,
        })
    }

    pub(crate) fn new(spec: SubscriptionSpec) -> Subscription {
        let filtered = spec.phase.is_some()
            || spec.kind.is_some()
            || spec.source.is_some()
            || spec.when.is_some();
        let queue =
            (spec.concurrency > 0 && matches!(spec.callback, Callback::Async(_))).then(|| {
                Arc::new(crate::core::SubQueue::new(
                    spec.concurrency as usize,
                    spec.queue_capacity,
                ))
            });
        Subscription {
            name: spec.name,
            group: spec.group,
            priority: spec.priority,
            event: spec.event,
            pattern: spec.pattern,
            phase: spec.phase,
            kind: spec.kind,
            source: spec.source,
            when: spec.when,
            wants_record: spec.wants_record,
            callback: spec.callback,
            paused: AtomicBool::new(false),
            delivered: Counter::default(),
            failed: Counter::default(),
            filtered,
            retry: spec.retry,
            backoff: if spec.backoff.is_zero() {
                DEFAULT_BACKOFF
            } else {
                spec.backoff
            },
            queue,
            shared: spec.shared,
            stats: crate::core::counters::HandlerStats::default(),
        }
    }

    pub(crate) fn is_async(&self) -> bool {
        matches!(self.callback, Callback::Async(_))
    }

    #[inline]
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Whether the per-emit filters (phase, kind, source, predicate) accept `input`.
    #[inline]
    pub(crate) fn accepts(&self, input: HandlerInput<'_>) -> bool {
        if !self.filtered {
            return true;
        }
        let env = input.envelope;
        self.phase.is_none_or(|p| env.phase() == p)
            && self.kind.is_none_or(|k| env.kind() == k)
            && self
                .source
                .as_deref()
                .is_none_or(|s| env.source() == Some(s))
            && self.when.as_ref().is_none_or(|w| w(input))
    }

    /// Whether this subscription routes records of type `type_id` named `name`.
    pub(crate) fn routes(&self, type_id: TypeId, name: &str) -> bool {
        self.event.is_none_or(|(t, _)| t == type_id)
            && self.pattern.as_ref().is_none_or(|g| g.matches(name))
    }

    pub(crate) fn info(&self) -> SubscriptionInfo {
        SubscriptionInfo {
            name: self.name.to_string(),
            group: self.group.to_string(),
            event: self.event.map(|(_, n)| n),
            pattern: self.pattern.as_ref().map(|g| g.as_str().to_owned()),
            phase: self.phase,
            kind: self.kind,
            source: self.source.as_ref().map(|s| s.to_string()),
            has_predicate: self.when.is_some(),
            priority: self.priority,
            is_async: self.is_async(),
            paused: self.is_paused(),
            delivered: self.delivered.get(),
            failed: self.failed.get(),
            retry: self.retry,
            shared: self.shared,
            queue_depth: self.queue.as_ref().map_or(0, |q| q.depth()),
        }
    }
}

pub(crate) struct SubscriptionSpec {
    pub(crate) name: Cow<'static, str>,
    pub(crate) group: Cow<'static, str>,
    pub(crate) priority: i32,
    pub(crate) event: Option<(TypeId, &'static str)>,
    pub(crate) pattern: Option<Glob>,
    pub(crate) phase: Option<Phase>,
    pub(crate) kind: Option<Kind>,
    pub(crate) source: Option<Cow<'static, str>>,
    pub(crate) when: Option<Arc<PredicateFn>>,
    pub(crate) wants_record: bool,
    pub(crate) callback: Callback,
    pub(crate) concurrency: u32,
    pub(crate) retry: u32,
    pub(crate) backoff: std::time::Duration,
    pub(crate) shared: bool,
    pub(crate) queue_capacity: usize,
}

/// The wait before the first retry when `backoff` is not given.
pub(crate) const DEFAULT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

/// One subscription as [`Bus::subscriptions`](crate::Bus::subscriptions) lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionInfo {
    /// The subscription name.
    pub name: String,
    /// Its group.
    pub group: String,
    /// The event type's name, when it routes by type.
    pub event: Option<&'static str>,
    /// The name pattern, if any.
    pub pattern: Option<String>,
    /// The phase filter, if any.
    pub phase: Option<Phase>,
    /// The kind filter, if any.
    pub kind: Option<Kind>,
    /// The source filter, if any.
    pub source: Option<String>,
    /// Whether a `when` predicate is set.
    pub has_predicate: bool,
    /// Its priority.
    pub priority: i32,
    /// Whether the handler is `async`.
    pub is_async: bool,
    /// Whether it is paused.
    pub paused: bool,
    /// Invocations that succeeded.
    pub delivered: u64,
    /// Invocations that failed (returned `Err` or panicked).
    pub failed: u64,
    /// Retries after a failed attempt (`retry = N`).
    pub retry: u32,
    /// Whether it runs once across the processes of a transport (`shared`).
    pub shared: bool,
    /// Events waiting in the queue of a handler with `concurrency = N`.
    pub queue_depth: usize,
}

/// What a handler may return: `()`, `Result<(), E>`, an event `R`, `Option<R>` or
/// `Result<R, E>` (`E: Display`). Returned events are emitted as children of the
/// handled event. Not public API.
#[doc(hidden)]
pub trait HandlerReturn {
    #[doc(hidden)]
    fn __herald_finish(self, handled: &ErasedEnvelope) -> Outcome;
}

/// An event a handler may return (or `()` for none). Not public API.
#[doc(hidden)]
pub trait Emittable {
    #[doc(hidden)]
    fn __herald_emit_child(self, handled: &ErasedEnvelope) -> Outcome;
}

impl Emittable for () {
    fn __herald_emit_child(self, _: &ErasedEnvelope) -> Outcome {
        Ok(())
    }
}

impl<R: Event> Emittable for R {
    fn __herald_emit_child(self, handled: &ErasedEnvelope) -> Outcome {
        // Handlers run with their bus installed (the core installs it around each call
        // and each poll); a returned event goes to that bus.
        crate::core::context::with_bus_or_installed(None, |bus| match bus {
            Some(bus) => {
                bus.emit_child(self, handled);
                Ok(())
            }
            None => Err("internal error: a handler returned an event outside its bus".into()),
        })
    }
}

impl<R: Event> Emittable for Option<R> {
    fn __herald_emit_child(self, handled: &ErasedEnvelope) -> Outcome {
        match self {
            Some(ev) => ev.__herald_emit_child(handled),
            None => Ok(()),
        }
    }
}

impl HandlerReturn for () {
    fn __herald_finish(self, _: &ErasedEnvelope) -> Outcome {
        Ok(())
    }
}

impl<R: Event> HandlerReturn for R {
    fn __herald_finish(self, handled: &ErasedEnvelope) -> Outcome {
        self.__herald_emit_child(handled)
    }
}

impl<R: Event> HandlerReturn for Option<R> {
    fn __herald_finish(self, handled: &ErasedEnvelope) -> Outcome {
        self.__herald_emit_child(handled)
    }
}

impl<T: Emittable, E: fmt::Display> HandlerReturn for Result<T, E> {
    fn __herald_finish(self, handled: &ErasedEnvelope) -> Outcome {
        match self {
            Ok(v) => v.__herald_emit_child(handled),
            Err(e) => Err(e.to_string().into()),
        }
    }
}

/// Calls a typed sync handler. Not public API.
#[doc(hidden)]
#[inline]
pub fn call_typed<T: Event, R: HandlerReturn>(
    input: HandlerInput<'_>,
    f: impl FnOnce(&Envelope<T>) -> R,
) -> Outcome {
    match input.envelope.__downcast::<T>() {
        Some(env) => f(env).__herald_finish(input.envelope),
        None => Err(mismatch::<T>(input.envelope)),
    }
}

/// Calls a `&Record` sync handler. Not public API.
#[doc(hidden)]
#[inline]
pub fn call_record<R: HandlerReturn>(
    input: HandlerInput<'_>,
    f: impl FnOnce(&Record) -> R,
) -> Outcome {
    match input.record {
        Some(rec) => f(rec).__herald_finish(input.envelope),
        None => Err("internal error: record handler called without a record".into()),
    }
}

/// Evaluates a typed predicate. Not public API.
#[doc(hidden)]
#[inline]
pub fn when_typed<T: Event>(input: HandlerInput<'_>, f: impl FnOnce(&T) -> bool) -> bool {
    input
        .envelope
        .__downcast::<T>()
        .is_some_and(|env| f(env.payload()))
}

/// Evaluates a `&Record` predicate. Not public API.
#[doc(hidden)]
#[inline]
pub fn when_record(input: HandlerInput<'_>, f: impl FnOnce(&Record) -> bool) -> bool {
    input.record.is_some_and(f)
}

/// Turns what an async handler returned into an outcome. Not public API.
#[doc(hidden)]
pub fn finish_async<R: HandlerReturn>(record: &Record, ret: R) -> Outcome {
    ret.__herald_finish(record.__envelope())
}

/// The failure text for a record of the wrong type. Not public API.
#[doc(hidden)]
pub fn mismatch<T: Event>(env: &ErasedEnvelope) -> Box<str> {
    format!(
        "internal error: handler for `{}` received `{}`",
        std::any::type_name::<T>(),
        env.name()
    )
    .into()
}
