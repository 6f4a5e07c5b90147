//! Programmatic subscriptions: [`Bus::subscribe`], [`Bus::subscribe_pattern`] and the
//! [`Subscriber`] builder behind [`Bus::on`] / [`Bus::on_pattern`].

use std::any::TypeId;
use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::fmt;
use std::sync::Weak;

use super::{Bus, Inner};
use crate::core::subscription::{
    call_record, call_typed, when_record, when_typed, Callback, HandlerInput, HandlerReturn,
    PredicateFn, Subscription, SubscriptionSpec,
};
use crate::envelope::{Envelope, Record};
use crate::event::{Event, Kind, Phase, Priority};
use crate::glob::Glob;

/// Marker for a [`Subscriber`] routing on the event type `T`.
pub struct Typed<T>(PhantomData<fn(T)>);

/// Marker for a [`Subscriber`] routing on a record-name pattern.
pub struct Pattern;

/// A subscription being configured: filters, priority and name, then a handler.
///
/// ```
/// use herald::prelude::*;
/// use herald::{Bus, Phase};
///
/// #[derive(serde::Serialize, serde::Deserialize, Event)]
/// #[event(name = "doc.reading")]
/// struct Reading { celsius: i32 }
///
/// let bus = Bus::builder().registered_handlers(false).history(0).build().unwrap();
/// let hot = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// let h = hot.clone();
/// let _sub = bus
///     .on::<Reading>()
///     .name("alarm")
///     .priority(10)
///     .when(|r: &Reading| r.celsius > 40)
///     .handle(move |_| {
///         h.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///     });
/// bus.emit(Reading { celsius: 20 });
/// bus.emit(Reading { celsius: 45 });
/// assert_eq!(hot.load(std::sync::atomic::Ordering::Relaxed), 1);
/// ```
#[must_use = "a subscriber does nothing until `.handle(..)`"]
pub struct Subscriber<'a, K> {
    bus: &'a Bus,
    name: Option<String>,
    priority: i32,
    pattern: Option<Glob>,
    phase: Option<Phase>,
    kind: Option<Kind>,
    source: Option<String>,
    when: Option<Arc<PredicateFn>>,
    retry: u32,
    backoff: std::time::Duration,
    shared: bool,
    _kind: PhantomData<K>,
}

impl<'a, K> Subscriber<'a, K> {
    fn new(bus: &'a Bus, pattern: Option<Glob>) -> Self {
        Subscriber {
            bus,
            name: None,
            priority: 0,
            pattern,
            phase: None,
            kind: None,
            source: None,
            when: None,
            retry: 0,
            backoff: std::time::Duration::ZERO,
            shared: false,
            _kind: PhantomData,
        }
    }

    /// The subscription name (default: the event name or pattern with a sequence number).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Higher runs first; equal priorities run in name order.
    pub fn priority(mut self, priority: impl Into<Priority>) -> Self {
        self.priority = priority.into().value();
        self
    }
    /// Only records in this phase.
    pub fn phase(mut self, phase: Phase) -> Self {
        self.phase = Some(phase);
        self
    }
    /// Only records of this kind.
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = Some(kind);
        self
    }
    /// Retries after a failed attempt, before the delivery becomes a dead letter. The
    /// first attempt runs inline; retries run as tasks, `backoff` apart (doubling).
    pub fn retry(mut self, retries: u32) -> Self {
        self.retry = retries;
        self
    }
    /// Wait before the first retry (default 50 ms).
    pub fn backoff(mut self, backoff: std::time::Duration) -> Self {
        self.backoff = backoff;
        self
    }
    /// Runs once across all the processes linked by the bus's transport, instead of
    /// once per process (see [`crate::transport`]). Without a transport that carries
    /// shared records, it runs locally, as any subscription.
    pub fn shared(mut self, yes: bool) -> Self {
        self.shared = yes;
        self
    }
    /// Only records from this source.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    fn finish(
        self,
        event: Option<(TypeId, &'static str)>,
        wants_record: bool,
        callback: Callback,
        default_name: &str,
    ) -> SubscriptionHandle {
        let n = self
            .bus
            .inner
            .next_subscription
            .fetch_add(1, Ordering::Relaxed);
        let name = self.name.unwrap_or_else(|| format!("{default_name}#{n}"));
        self.bus.add(SubscriptionSpec {
            name: Cow::Owned(name),
            group: Cow::Borrowed("default"),
            priority: self.priority,
            event,
            pattern: self.pattern,
            phase: self.phase,
            kind: self.kind,
            source: self.source.map(Cow::Owned),
            when: self.when,
            wants_record,
            callback,
            concurrency: 0,
            retry: self.retry,
            backoff: self.backoff,
            shared: self.shared,
            queue_capacity: 0,
        })
    }
}

impl<T: Event> Subscriber<'_, Typed<T>> {
    /// Only events for which `predicate` holds.
    pub fn when(mut self, predicate: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.when = Some(Arc::new(move |input: HandlerInput<'_>| {
            when_typed::<T>(input, &predicate)
        }));
        self
    }

    /// Subscribes `f`; dropping the handle unsubscribes.
    pub fn handle<R: HandlerReturn>(
        self,
        f: impl Fn(&Envelope<T>) -> R + Send + Sync + 'static,
    ) -> SubscriptionHandle {
        let callback = Callback::Sync(Arc::new(move |input: HandlerInput<'_>| {
            call_typed::<T, R>(input, &f)
        }));
        self.finish(Some((TypeId::of::<T>(), T::NAME)), false, callback, T::NAME)
    }
}

impl Subscriber<'_, Pattern> {
    /// Only records for which `predicate` holds.
    pub fn when(mut self, predicate: impl Fn(&Record) -> bool + Send + Sync + 'static) -> Self {
        self.when = Some(Arc::new(move |input: HandlerInput<'_>| {
            when_record(input, &predicate)
        }));
        self
    }

    /// Subscribes `f`; dropping the handle unsubscribes.
    pub fn handle<R: HandlerReturn>(
        self,
        f: impl Fn(&Record) -> R + Send + Sync + 'static,
    ) -> SubscriptionHandle {
        let callback = Callback::Sync(Arc::new(move |input: HandlerInput<'_>| {
            call_record(input, &f)
        }));
        let default_name = self
            .pattern
            .as_ref()
            .map_or_else(String::new, |g| g.as_str().to_owned());
        self.finish(None, true, callback, &default_name)
    }
}

impl Bus {
    pub(crate) fn add(&self, spec: SubscriptionSpec) -> SubscriptionHandle {
        let name = spec.name.to_string();
        let sub = Arc::new(Subscription::new(spec));
        self.inner.add_subscription(sub);
        SubscriptionHandle {
            bus: Arc::downgrade(&self.inner),
            name,
            active: true,
        }
    }

    /// Configures a subscription to events of type `T`; see [`Subscriber`].
    pub fn on<T: Event>(&self) -> Subscriber<'_, Typed<T>> {
        Subscriber::new(self, None)
    }

    /// Configures a subscription to records whose name matches `pattern` (`*` one
    /// segment, `**` zero or more); see [`Subscriber`].
    pub fn on_pattern(&self, pattern: &str) -> Subscriber<'_, Pattern> {
        Subscriber::new(self, Some(Glob::new(pattern)))
    }

    /// Subscribes a sync closure to events of type `T`. Dropping the handle unsubscribes.
    ///
    /// For a handler that returns something (a `Result`, or an event to emit as a
    /// child), or that needs filters and a priority, use [`Bus::on`].
    pub fn subscribe<T: Event>(
        &self,
        f: impl Fn(&Envelope<T>) + Send + Sync + 'static,
    ) -> SubscriptionHandle {
        self.on::<T>().handle(f)
    }

    /// Subscribes a sync closure to every record whose name matches `pattern` (`*` one
    /// segment, `**` zero or more). Dropping the handle unsubscribes.
    pub fn subscribe_pattern(
        &self,
        pattern: &str,
        f: impl Fn(&Record) + Send + Sync + 'static,
    ) -> SubscriptionHandle {
        self.on_pattern(pattern).handle(f)
    }
}

/// A programmatic subscription; dropping it unsubscribes (call [`detach`](Self::detach)
/// to keep the subscription for the bus's lifetime).
#[must_use = "dropping the handle unsubscribes at once"]
pub struct SubscriptionHandle {
    bus: Weak<Inner>,
    name: String,
    active: bool,
}

impl SubscriptionHandle {
    /// The subscription's name on its bus (for `pause`, `resume`, `unsubscribe`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Unsubscribes now.
    pub fn unsubscribe(self) {}

    /// Keeps the subscription until the bus is dropped or it is unsubscribed by name.
    pub fn detach(mut self) {
        self.active = false;
    }
}

impl Drop for SubscriptionHandle {
    fn drop(&mut self) {
        if self.active {
            if let Some(inner) = self.bus.upgrade() {
                inner.remove_subscription(&self.name);
            }
        }
    }
}

impl fmt::Debug for SubscriptionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionHandle")
            .field("name", &self.name)
            .finish()
    }
}
