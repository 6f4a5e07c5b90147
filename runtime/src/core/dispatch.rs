//! The emit path: route, build the envelope, run sync handlers inline, schedule async
//! ones, keep the record, dead-letter failures.

use std::any::TypeId;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::answer::Answer;
use super::counter;
use super::histogram::Stopwatch;
use super::worker::Scheduled;
use super::{Bus, DeadLetter, Delivery, EmitOptions, Inner, Key, Route};
use crate::core::context;
use crate::core::subscription::{Callback, HandlerInput, Subscription};
use crate::envelope::{Envelope, ErasedEnvelope, Extra, Links, Name, Record};
use crate::event::{Event, Phase, Priority};
use crate::id;
use crate::id::Stamp;
use crate::route_slot::RouteSlot;
use crate::unwind::panic_text;

/// The options of one emission, as `deliver_wanted` takes them. Each kind of emission
/// has its own type, so `deliver_wanted` is compiled once per kind and a plain `emit`
/// does no option handling at all.
trait Opts {
    /// Route with [`Inner::with_lent_outlined`] (see there).
    const OUTLINE_ROUTE: bool = false;
    fn take(self) -> Taken;
}

/// The options an emission sets (`None`: the default).
#[derive(Default)]
struct Taken {
    now: Option<Stamp>,
    id: Option<Uuid>,
    links: Option<Links>,
    ttl: Option<Duration>,
    phase: Option<Phase>,
    priority: Option<Priority>,
    duration: Option<Duration>,
    extra: Option<Box<Extra>>,
    answer: Option<Answer>,
}

/// `emit`: every option at its default.
struct Plain;

impl Opts for Plain {
    #[inline(always)]
    fn take(self) -> Taken {
        Taken::default()
    }
}

/// A default lifecycle record of an instrumented call.
impl Opts for &LifecycleAt<'_> {
    const OUTLINE_ROUTE: bool = true;
    #[inline(always)]
    fn take(self) -> Taken {
        Taken {
            now: Some(self.now),
            links: Some(self.links),
            phase: Some(self.phase),
            duration: self.duration,
            ..Taken::default()
        }
    }
}

/// Anything else.
impl Opts for &mut EmitOptions {
    #[inline(always)]
    fn take(self) -> Taken {
        Taken {
            now: self.now.take(),
            id: self.id.take(),
            links: self.links,
            ttl: self.ttl,
            phase: self.phase,
            priority: self.priority,
            duration: self.duration,
            extra: self.extra.take(),
            answer: self.answers.take(),
        }
    }
}

/// Where and when a default lifecycle record of an instrumented call (`Started`,
/// `Completed`, ...) is emitted; built once by the call and passed by reference.
pub(crate) struct LifecycleAt<'a> {
    /// The record name, routed by `slot` when it has one.
    pub(crate) name: &'a Name,
    pub(crate) slot: Option<&'a RouteSlot>,
    pub(crate) links: Links,
    pub(crate) phase: Phase,
    /// The clock reading the record is stamped with.
    pub(crate) now: Stamp,
    pub(crate) duration: Option<Duration>,
}

/// Collects what `emit_and_wait` needs to report.
#[derive(Default)]
pub(crate) struct Waiter {
    delivery: Delivery,
    pending: Vec<Pending>,
}

/// A delivery `emit_and_wait` still waits for: what was scheduled, for whom, on what.
struct Pending {
    scheduled: Scheduled,
    sub: Arc<Subscription>,
    record: Record,
}

impl Bus {
    /// Emits with `opts`; `route` is given when the caller resolved it already.
    #[inline(always)]
    pub(crate) fn dispatch<E: Event>(
        &self,
        payload: E,
        mut opts: EmitOptions,
        route: Option<&Route>,
    ) -> Uuid {
        self.dispatch_inner(payload, &mut opts, route, None)
    }

    /// Emits with `opts`, borrowed (options built in place are never moved).
    #[inline(always)]
    pub(crate) fn dispatch_with<E: Event>(&self, payload: E, opts: &mut EmitOptions) -> Uuid {
        self.dispatch_inner(payload, opts, None, None)
    }

    /// Emits a default lifecycle record of an instrumented call; `payload` makes its
    /// payload where the record is built (a payload made by the caller and passed down
    /// was copied on the way, and the first copy stalled on its freshly written words).
    pub(crate) fn emit_lifecycle<E: Event>(
        &self,
        payload: impl FnOnce() -> E,
        at: &LifecycleAt<'_>,
    ) -> Uuid {
        if self.inner.disabled {
            return id::next_unkept();
        }
        let key = || {
            Key {
                type_id: TypeId::of::<E>(),
                name: at.name,
                is_type_name: false,
                slot: None,
            }
            .with_slot(at.slot)
        };
        self.emit_routed(payload, key, at)
    }

    /// `emit` without options: the common case, kept free of option handling when no
    /// subscription and no store wants the record.
    #[inline]
    pub(crate) fn emit_plain<E: Event>(&self, payload: E) -> Uuid {
        if self.inner.disabled {
            return id::next_unkept();
        }
        if payload.__herald_record_name().is_some() {
            return self.dispatch(payload, EmitOptions::default(), None);
        }
        let name = Name::Static(E::NAME);
        self.emit_routed(move || payload, || Key::of::<E>(&name, true), Plain)
    }

    /// Routes a record whose options need no request or wait handling (a plain `emit`, a
    /// lifecycle record), counts it, and delivers it when anything wants it.
    #[inline(always)]
    fn emit_routed<'k, E: Event, O: Opts>(
        &self,
        payload: impl FnOnce() -> E,
        key: impl FnOnce() -> Key<'k>,
        opts: O,
    ) -> Uuid {
        let route = |lent: super::Lent<'_>| {
            let key = key();
            match lent.table.get(&key) {
                Some(route) => self.deliver_counted(payload, key.name, opts, route, lent.shard),
                None => self.emit_resolving(payload, &key, opts),
            }
        };
        if O::OUTLINE_ROUTE {
            self.inner.with_lent_outlined(route)
        } else {
            self.inner.with_lent(route)
        }
    }

    /// [`Bus::emit_routed`] for the first emission of a key since subscriptions changed.
    #[cold]
    #[inline(never)]
    fn emit_resolving<E: Event, O: Opts>(
        &self,
        payload: impl FnOnce() -> E,
        key: &Key<'_>,
        opts: O,
    ) -> Uuid {
        let route = self.inner.resolve(key);
        self.deliver_counted(payload, key.name, opts, &route, counter::shard())
    }

    /// Counts an emission on `route` and delivers it when anything wants it.
    #[inline(always)]
    fn deliver_counted<E: Event, O: Opts>(
        &self,
        payload: impl FnOnce() -> E,
        name: &Name,
        opts: O,
        route: &Route,
        shard: usize,
    ) -> Uuid {
        route.stats.emitted.incr_in(shard);
        if !route.wanted() {
            return id::next_unkept();
        }
        self.deliver_wanted(payload, opts, name.clone(), route, None)
    }

    #[inline]
    fn dispatch_inner<E: Event>(
        &self,
        payload: E,
        opts: &mut EmitOptions,
        route: Option<&Route>,
        wait: Option<&mut Waiter>,
    ) -> Uuid {
        if self.inner.disabled {
            return id::next_unkept();
        }
        let (name, is_type_name) = match opts.name.take() {
            Some(n) => (n, false),
            None => match payload.__herald_record_name() {
                Some(s) => (Name::Shared(s.into()), false),
                None => (Name::Static(E::NAME), true),
            },
        };
        if let Some(route) = route {
            return self.deliver(payload, opts, name, route, wait);
        }
        let cached =
            self.inner.with_table(
                |table| match table.get(&Key::of::<E>(&name, is_type_name)) {
                    Some(route) => Ok(self.deliver(payload, opts, name, route, wait)),
                    None => Err((payload, name, wait)),
                },
            );
        match cached {
            Ok(id) => id,
            Err((payload, name, wait)) => {
                let route = self.inner.resolve(&Key::of::<E>(&name, is_type_name));
                self.deliver(payload, opts, name, &route, wait)
            }
        }
    }

    pub(crate) fn dispatch_batch<E: Event, I: IntoIterator<Item = E>>(
        &self,
        events: I,
    ) -> Vec<Uuid> {
        let events = events.into_iter();
        let mut ids = Vec::with_capacity(events.size_hint().0);
        if self.inner.disabled {
            ids.extend(events.map(|_| id::next_unkept()));
            return ids;
        }
        let name = Name::Static(E::NAME);
        let route = self.route_key(&Key::of::<E>(&name, true));
        for ev in events {
            if ev.__herald_record_name().is_some() {
                ids.push(self.dispatch(ev, EmitOptions::default(), None));
            } else {
                ids.push(self.deliver(ev, &mut EmitOptions::default(), name.clone(), &route, None));
            }
        }
        ids
    }

    pub(crate) async fn dispatch_and_wait<E: Event>(
        &self,
        payload: E,
        mut opts: EmitOptions,
    ) -> Delivery {
        let mut waiter = Waiter::default();
        let id = self.dispatch_inner(payload, &mut opts, None, Some(&mut waiter));
        let mut delivery = waiter.delivery;
        delivery.id = id;
        for p in waiter.pending {
            delivery.count(p.scheduled.outcome(self, &p.sub, &p.record).await);
        }
        delivery
    }

    /// Emits `ev` as a child of `handled` (a handler's returned event).
    pub(crate) fn emit_child<E: Event>(&self, ev: E, handled: &ErasedEnvelope) -> Uuid {
        let opts = EmitOptions {
            links: Some(handled.meta.child_links()),
            // The answer to a pending request goes back to the requester too.
            answers: self.inner.requests.take(handled.id(), TypeId::of::<E>()),
            ..EmitOptions::default()
        };
        self.dispatch(ev, opts, None)
    }

    #[inline]
    fn deliver<E: Event>(
        &self,
        payload: E,
        opts: &mut EmitOptions,
        name: Name,
        route: &Route,
        wait: Option<&mut Waiter>,
    ) -> Uuid {
        route.stats.emitted.incr();
        if !route.wanted() && opts.answers.is_none() {
            return opts.id.take().unwrap_or_else(id::next_unkept);
        }
        self.deliver_wanted(move || payload, opts, name, route, wait)
    }

    /// Builds the record and delivers it, with the options `opts` gives (a plain `emit`
    /// and a lifecycle record carry no `EmitOptions` to fill in and drop).
    #[inline(never)]
    fn deliver_wanted<E: Event, O: Opts>(
        &self,
        payload: impl FnOnce() -> E,
        opts: O,
        name: Name,
        route: &Route,
        mut wait: Option<&mut Waiter>,
    ) -> Uuid {
        let inner = &*self.inner;
        let Taken {
            now,
            id,
            links,
            ttl,
            phase,
            priority,
            duration,
            extra,
            answer,
        } = opts.take();
        let now = now.unwrap_or_else(id::now);
        let id = id.unwrap_or_else(|| id::next_with_ms(now.millis()));
        let links = links.unwrap_or_else(context::current_links);
        let expires_at = ttl.or(E::TTL).and_then(|ttl| now.checked_add(ttl));
        let expired = expires_at.is_some_and(|at| at <= now);
        let priority = priority.unwrap_or_default();
        // Built once, where it stays: in the record, or in `envelope` when nothing keeps
        // it. Moving a new envelope (into an enum, say) made the compiler copy it in
        // unaligned pieces, and the loads of those pieces stalled; so did building it
        // in a closure. The `Option` costs nothing: it uses a niche of the envelope.
        macro_rules! envelope {
            () => {
                Envelope::emitted(
                    payload(),
                    id,
                    name,
                    phase.or(E::PHASE).unwrap_or_default(),
                    now,
                    links,
                    priority,
                    expires_at,
                    duration,
                    extra,
                )
            };
        }
        let handled = links.of_record(id).handled(id);
        let mut record = None;
        let mut envelope = None;
        if route.needs_record || answer.is_some() {
            let kept = record.insert(Record::new(envelope!()));
            if route.keep {
                inner.keep(kept);
            }
            if let Some(answer) = answer {
                answer.send(kept);
            }
        } else {
            envelope = Some(envelope!());
        }
        if expired {
            inner.count_expired(route, wait);
            return id;
        }
        // One call site, so that `run_handlers` is inlined here.
        let input = match (&record, &envelope) {
            (Some(record), _) => HandlerInput {
                envelope: record,
                record: Some(record),
            },
            (None, Some(envelope)) => HandlerInput {
                envelope,
                record: None,
            },
            // One of the two always holds it.
            (None, None) => return id,
        };
        let mut failures = None;
        self.run_handlers(route, input, handled, &mut wait, &mut failures);
        if let Some(failures) = failures {
            let record = match (record, envelope) {
                (Some(record), _) => record,
                (None, Some(envelope)) => Record::new(envelope),
                (None, None) => return id,
            };
            self.handle_failures(&record, failures, wait);
        }
        id
    }

    /// Runs the sync handlers inline and schedules the async ones; adds the failures to
    /// `failures` (kept by the caller: moving it out stalled on its partly written
    /// words). `handled` are the links handlers run under (see [`Links::handled`]).
    #[inline(always)]
    fn run_handlers(
        &self,
        route: &Route,
        input: HandlerInput<'_>,
        handled: Links,
        wait: &mut Option<&mut Waiter>,
        failures: &mut Option<Vec<(Arc<Subscription>, String)>>,
    ) {
        if route.subs.is_empty() {
            return;
        }
        let inner = &*self.inner;
        let _context = context::enter_handler(self, &handled);
        let shard = super::counter::shard();
        for sub in route.subs.iter() {
            if sub.is_paused() || !sub.accepts(input) {
                if let Some(w) = wait.as_deref_mut() {
                    w.delivery.filtered += 1;
                }
                continue;
            }
            match &sub.callback {
                Callback::Sync(f) => {
                    let watch = Stopwatch::sampled(&sub.stats.latency);
                    let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(input)))
                        .unwrap_or_else(|p| Err(panic_text(&*p).into()));
                    if let Some(nanos) = watch.stop() {
                        sub.stats.latency.record(nanos);
                        route.stats.latency.record(nanos);
                    }
                    match outcome {
                        Ok(()) => {
                            sub.delivered.incr_in(shard);
                            inner.counters.delivered.incr_in(shard);
                            if let Some(w) = wait.as_deref_mut() {
                                w.delivery.handled += 1;
                            }
                        }
                        Err(error) => {
                            sub.failed.incr_in(shard);
                            inner.counters.failed.incr_in(shard);
                            route.stats.failed.incr_in(shard);
                            failures
                                .get_or_insert_with(Vec::new)
                                .push((sub.clone(), error.into()));
                        }
                    }
                }
                Callback::Async(_) => {
                    // Routes with async subscriptions always carry a record.
                    if let Some(record) = input.record {
                        let scheduled = self.schedule(sub, record, None, wait.is_some());
                        if let Some(w) = wait.as_deref_mut() {
                            w.pending.push(Pending {
                                scheduled,
                                sub: sub.clone(),
                                record: record.clone(),
                            });
                        }
                    }
                }
            }
        }
    }

    /// Retries or dead-letters the failed inline attempts of sync handlers.
    fn handle_failures(
        &self,
        record: &Record,
        failures: Vec<(Arc<Subscription>, String)>,
        mut wait: Option<&mut Waiter>,
    ) {
        for (sub, error) in failures {
            if sub.retry == 0 {
                self.inner.dead_letter(record.clone(), &sub, error, 1);
                if let Some(w) = wait.as_deref_mut() {
                    w.delivery.failed += 1;
                }
                continue;
            }
            let scheduled = self.schedule(&sub, record, Some((1, error)), wait.is_some());
            if let Some(w) = wait.as_deref_mut() {
                w.pending.push(Pending {
                    scheduled,
                    sub,
                    record: record.clone(),
                });
            }
        }
    }

    /// Runs `sub` once more on a dead letter's record (see `retry_dead_letter`).
    pub(crate) async fn redeliver(&self, sub: &Arc<Subscription>, letter: DeadLetter) -> Delivery {
        let record = letter.record().clone();
        let mut delivery = Delivery {
            id: record.id(),
            ..Delivery::default()
        };
        match self.attempt_once(sub, &record).await {
            Ok(()) => {
                sub.delivered.incr();
                self.inner.counters.delivered.incr();
                delivery.handled = 1;
            }
            Err(error) => {
                sub.failed.incr();
                self.inner.counters.failed.incr();
                delivery.failed = 1;
                self.inner
                    .dead_letter(record, sub, error.into(), letter.attempts() + 1);
            }
        }
        delivery
    }
}

impl Inner {
    /// Sends a kept record to every keeper: history, stores, transport.
    #[inline]
    fn keep(&self, record: &Record) {
        for keeper in self.keepers.iter() {
            keeper.accept(record);
        }
    }

    fn count_expired(&self, route: &Route, wait: Option<&mut Waiter>) {
        self.counters.expired.incr();
        if let Some(w) = wait {
            w.delivery.expired += route.subs.len();
        }
    }

    pub(crate) fn dead_letter(
        &self,
        record: Record,
        sub: &Subscription,
        error: String,
        attempts: u32,
    ) {
        self.requests.fail(record.id(), &sub.name, &error);
        self.counters.dead_lettered.incr();
        let evicted = self.dead_letters.push(DeadLetter::new(
            record,
            sub.name.to_string(),
            error,
            attempts,
        ));
        if evicted {
            self.counters.dropped.incr();
        }
    }
}
