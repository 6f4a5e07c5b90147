//! The emit path: route, build the envelope, run sync handlers inline, schedule async
//! ones, keep the record, dead-letter failures.

use std::any::TypeId;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{lock, Bus, DeadLetter, Delivery, EmitOptions, Inner, Route};
use crate::context;
use crate::envelope::{Envelope, ErasedEnvelope, Links, Meta, Name, Record};
use crate::event::Event;
use crate::id;
use crate::instrument::panic_text;
use crate::subscription::{BoxFuture, Callback, HandlerInput, Outcome, Subscription};

/// Collects what `emit_and_wait` needs to report.
#[derive(Default)]
pub(crate) struct Waiter {
    delivery: Delivery,
    tasks: Vec<JoinHandle<TaskOutcome>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskOutcome {
    Handled,
    Failed,
    Expired,
}

/// The context a handler of `env` runs in: its emissions are caused by `env`, share its
/// correlation, and sit where `env` sits in the tree.
fn handler_links(env: &ErasedEnvelope) -> Links {
    Links::new(
        env.parent_id(),
        env.parent_id().map(|_| env.root_id()),
        Some(env.correlation_id()),
        Some(env.id()),
    )
}

impl Bus {
    /// Emits with `opts`; `route` is given when the caller resolved it already.
    #[inline]
    pub(crate) fn dispatch<E: Event>(
        &self,
        payload: E,
        mut opts: EmitOptions,
        route: Option<&Route>,
    ) -> Uuid {
        self.dispatch_inner(payload, &mut opts, route, None)
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
            return id::next();
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
        let table = self.inner.table();
        match table.get(TypeId::of::<E>(), &name, is_type_name) {
            Some(route) => self.deliver(payload, opts, name, route, wait),
            None => {
                drop(table);
                let route = self.inner.resolve(TypeId::of::<E>(), &name, is_type_name);
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
            ids.extend(events.map(|_| id::next()));
            return ids;
        }
        let name = Name::Static(E::NAME);
        let cached = self
            .inner
            .table()
            .get(TypeId::of::<E>(), &name, true)
            .cloned();
        let route = cached.unwrap_or_else(|| self.inner.resolve(TypeId::of::<E>(), &name, true));
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
        for task in waiter.tasks {
            match task.await {
                Ok(TaskOutcome::Handled) => delivery.handled += 1,
                Ok(TaskOutcome::Expired) => delivery.expired += 1,
                Ok(TaskOutcome::Failed) | Err(_) => delivery.failed += 1,
            }
        }
        delivery
    }

    /// Emits `ev` as a child of `handled` (a handler's returned event).
    pub(crate) fn emit_child<E: Event>(&self, ev: E, handled: &ErasedEnvelope) -> Uuid {
        let opts = EmitOptions {
            links: Some(handled.meta.child_links()),
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
        if !route.wanted() {
            return id::next();
        }
        self.deliver_wanted(payload, opts, name, route, wait)
    }

    fn deliver_wanted<E: Event>(
        &self,
        payload: E,
        opts: &mut EmitOptions,
        name: Name,
        route: &Route,
        mut wait: Option<&mut Waiter>,
    ) -> Uuid {
        let inner = &*self.inner;
        let stamp = opts.now.take().unwrap_or_else(id::now);
        let (now, ms) = (stamp.system_time(), stamp.millis());
        let id = id::next_with_ms(ms);
        let links = opts.links.unwrap_or_else(context::current_links);
        let mut meta = Meta::new(
            id,
            name,
            E::NAME,
            E::VERSION,
            E::KIND,
            opts.phase.or(E::PHASE).unwrap_or_default(),
            now,
        );
        meta.priority = opts.priority.unwrap_or_default();
        meta.expires_at = opts.ttl.or(E::TTL).and_then(|ttl| now.checked_add(ttl));
        meta.duration = opts.duration;
        meta.extra = opts.extra.take();
        meta.link(links);
        let expired = meta.expires_at.is_some_and(|at| at <= now);
        let env = Envelope::new(meta, payload);
        if route.needs_record {
            let record = Record::new(env);
            if route.keep {
                inner.keep(&record);
            }
            if expired {
                inner.count_expired(route, wait);
                return id;
            }
            let input = HandlerInput {
                envelope: &record,
                record: Some(&record),
            };
            for (sub, error) in self.run_handlers(route, input, &mut wait) {
                inner.dead_letter(record.clone(), &sub, error, 1);
            }
        } else {
            if expired {
                inner.count_expired(route, wait);
                return id;
            }
            let input = HandlerInput {
                envelope: &env,
                record: None,
            };
            let failures = self.run_handlers(route, input, &mut wait);
            if !failures.is_empty() {
                let record = Record::new(env);
                for (sub, error) in failures {
                    inner.dead_letter(record.clone(), &sub, error, 1);
                }
            }
        }
        id
    }

    /// Runs the sync handlers inline and schedules the async ones; returns the failures.
    #[inline]
    fn run_handlers(
        &self,
        route: &Route,
        input: HandlerInput<'_>,
        wait: &mut Option<&mut Waiter>,
    ) -> Vec<(Arc<Subscription>, String)> {
        let mut failures = Vec::new();
        if route.subs.is_empty() {
            return failures;
        }
        let inner = &*self.inner;
        let _bus = context::enter_bus(self);
        let _links = context::enter(handler_links(input.envelope));
        for sub in route.subs.iter() {
            if sub.is_paused() || !sub.accepts(input) {
                if let Some(w) = wait.as_deref_mut() {
                    w.delivery.filtered += 1;
                }
                continue;
            }
            match &sub.callback {
                Callback::Sync(f) => {
                    let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(input)))
                        .unwrap_or_else(|p| Err(panic_text(&*p)));
                    match outcome {
                        Ok(()) => {
                            sub.delivered.incr();
                            inner.counters.delivered.incr();
                            if let Some(w) = wait.as_deref_mut() {
                                w.delivery.handled += 1;
                            }
                        }
                        Err(error) => {
                            sub.failed.incr();
                            inner.counters.failed.incr();
                            if let Some(w) = wait.as_deref_mut() {
                                w.delivery.failed += 1;
                            }
                            failures.push((sub.clone(), error));
                        }
                    }
                }
                Callback::Async(f) => {
                    // Routes with async subscriptions always carry a record.
                    if let Some(record) = input.record {
                        let task = self.spawn_handler(sub, f(record.clone()), record.clone());
                        if let Some(w) = wait.as_deref_mut() {
                            w.tasks.push(task);
                        }
                    }
                }
            }
        }
        failures
    }

    fn spawn_handler(
        &self,
        sub: &Arc<Subscription>,
        fut: BoxFuture,
        record: Record,
    ) -> JoinHandle<TaskOutcome> {
        self.inner.inflight.fetch_add(1, Ordering::AcqRel);
        let task = HandlerTask {
            links: handler_links(&record),
            bus: self.clone(),
            sub: sub.clone(),
            record,
            fut,
            attempts: 1,
            started: false,
            _inflight: Inflight(self.inner.clone()),
        };
        super::runtime::spawn(task)
    }

    /// Runs `sub` once more on a dead letter's record (see `retry_dead_letter`).
    pub(crate) async fn redeliver(&self, sub: &Arc<Subscription>, letter: DeadLetter) -> Delivery {
        let record = letter.record().clone();
        let mut delivery = Delivery {
            id: record.id(),
            ..Delivery::default()
        };
        let attempts = letter.attempts() + 1;
        let outcome: Outcome = match &sub.callback {
            Callback::Sync(f) => {
                let _bus = context::enter_bus(self);
                let _links = context::enter(handler_links(&record));
                let input = HandlerInput {
                    envelope: &record,
                    record: Some(&record),
                };
                panic::catch_unwind(AssertUnwindSafe(|| f(input)))
                    .unwrap_or_else(|p| Err(panic_text(&*p)))
            }
            Callback::Async(f) => {
                let fut = f(record.clone());
                context::with_context(self, handler_links(&record), CatchUnwind(fut)).await
            }
        };
        match outcome {
            Ok(()) => {
                sub.delivered.incr();
                self.inner.counters.delivered.incr();
                delivery.handled = 1;
            }
            Err(error) => {
                sub.failed.incr();
                self.inner.counters.failed.incr();
                delivery.failed = 1;
                self.inner.dead_letter(record, sub, error, attempts);
            }
        }
        delivery
    }
}

impl Inner {
    fn keep(&self, record: &Record) {
        if let Some(h) = &self.history {
            lock(h).push(record.clone());
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
        self.counters.dead_lettered.incr();
        let evicted = lock(&self.dead).push(DeadLetter::new(
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

/// Decrements the in-flight count when a handler task ends (or is dropped).
struct Inflight(Arc<Inner>);

impl Drop for Inflight {
    fn drop(&mut self) {
        if self.0.inflight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// One async handler invocation: runs in the handler context, catches panics, settles.
struct HandlerTask {
    links: Links,
    bus: Bus,
    sub: Arc<Subscription>,
    record: Record,
    fut: BoxFuture,
    attempts: u32,
    started: bool,
    _inflight: Inflight,
}

impl Future for HandlerTask {
    type Output = TaskOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TaskOutcome> {
        let this = &mut *self;
        if !this.started {
            this.started = true;
            if this.record.is_expired_at(SystemTime::now()) {
                this.bus.inner.counters.expired.incr();
                return Poll::Ready(TaskOutcome::Expired);
            }
        }
        let polled = {
            let _bus = context::enter_bus(&this.bus);
            let _links = context::enter(this.links);
            panic::catch_unwind(AssertUnwindSafe(|| this.fut.as_mut().poll(cx)))
        };
        let outcome = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(outcome)) => outcome,
            Err(payload) => Err(panic_text(&*payload)),
        };
        let inner = &this.bus.inner;
        Poll::Ready(match outcome {
            Ok(()) => {
                this.sub.delivered.incr();
                inner.counters.delivered.incr();
                TaskOutcome::Handled
            }
            Err(error) => {
                this.sub.failed.incr();
                inner.counters.failed.incr();
                inner.dead_letter(this.record.clone(), &this.sub, error, this.attempts);
                TaskOutcome::Failed
            }
        })
    }
}

/// Turns a panic inside a handler future into a failed outcome.
struct CatchUnwind(BoxFuture);

impl Future for CatchUnwind {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        match panic::catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(payload) => Poll::Ready(Err(panic_text(&*payload))),
        }
    }
}
