//! Running handlers off the emit path: async invocations, retries with exponential
//! backoff and jitter, and the bounded queue of a handler with `concurrency = N`.
//!
//! Every invocation that is scheduled (a spawned async handler, a queued event, a
//! retry of a sync handler) holds an [`Inflight`] token until it settles, so
//! [`Bus::flush`] waits for all of them.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::histogram::Stopwatch;
use super::queue::{Inflight, Queued, SubQueue, TaskOutcome};
use super::{lock, Bus};
use crate::core::context;
use crate::core::subscription::{BoxFuture, Callback, HandlerInput, Outcome, Subscription};
use crate::envelope::{ErasedEnvelope, Links, Record};
use crate::unwind::panic_text;

/// What a full queue does with a new event when the emitter cannot wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Drop the oldest queued event (counted in `Metrics::dropped`).
    #[default]
    DropOldest,
    /// Refuse the new event: it becomes a dead letter (counted in `dead_lettered`).
    DeadLetter,
}

/// The context a handler of `env` runs in: what it emits, calls and spawns nests under
/// `env` (see [`Links::handled`]).
pub(crate) fn handler_links(env: &ErasedEnvelope) -> Links {
    env.meta.child_links()
}

/// Turns a panic inside a handler future into a failed outcome.
pub(crate) struct CatchUnwind(pub(crate) BoxFuture);

impl Future for CatchUnwind {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        match panic::catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(payload) => Poll::Ready(Err(panic_text(&*payload).into())),
        }
    }
}

/// The wait before retry number `retry` (1-based): `base * 2^(retry-1)`, capped, times
/// a jitter factor in [0.8, 1.2].
pub(crate) fn backoff_delay(base: Duration, cap: Duration, retry: u32) -> Duration {
    let exp = base.saturating_mul(
        1u32.checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX),
    );
    exp.min(cap).mul_f64(jitter())
}

/// A factor in [0.8, 1.2] from a per-thread xorshift generator.
fn jitter() -> f64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(crate::id::next().as_u128() as u64 | 1);
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        0.8 + 0.4 * ((x >> 11) as f64 / (1u64 << 53) as f64)
    })
}

impl Bus {
    /// Runs one invocation of `sub` on `record`, in the handler context.
    pub(crate) async fn attempt_once(&self, sub: &Subscription, record: &Record) -> Outcome {
        let watch = Stopwatch::sampled(&sub.stats.latency);
        let outcome = self.run_once(sub, record).await;
        let sampled = watch.stop();
        if sampled.is_some() || outcome.is_err() {
            let name = self.inner.name_stats(record.name());
            if let Some(nanos) = sampled {
                sub.stats.latency.record(nanos);
                name.latency.record(nanos);
            }
            if outcome.is_err() {
                name.failed.incr();
            }
        }
        outcome
    }

    async fn run_once(&self, sub: &Subscription, record: &Record) -> Outcome {
        let links = handler_links(record);
        match &sub.callback {
            Callback::Sync(f) => {
                let _context = context::enter_handler(self, &links);
                let input = HandlerInput {
                    envelope: record,
                    record: Some(record),
                };
                panic::catch_unwind(AssertUnwindSafe(|| f(input)))
                    .unwrap_or_else(|p| Err(panic_text(&*p).into()))
            }
            Callback::Async(f) => {
                let fut = {
                    let _context = context::enter_handler(self, &links);
                    panic::catch_unwind(AssertUnwindSafe(|| f(record.clone())))
                };
                match fut {
                    Ok(fut) => context::with_context(self, links, CatchUnwind(fut)).await,
                    Err(p) => Err(panic_text(&*p).into()),
                }
            }
        }
    }

    /// Runs `sub` on `record` until it succeeds or its retries are spent, waiting the
    /// backoff between attempts; `first` is the outcome of an attempt already made.
    pub(crate) async fn settle(
        &self,
        sub: &Subscription,
        record: &Record,
        first: Option<(u32, String)>,
    ) -> TaskOutcome {
        let inner = &*self.inner;
        let (mut attempts, mut last_error) = match first {
            Some((attempts, error)) => (attempts, Some(error)),
            None => (0, None),
        };
        loop {
            if attempts > 0 {
                if attempts > sub.retry {
                    let error = last_error.take().unwrap_or_default();
                    inner.dead_letter(record.clone(), sub, error, attempts);
                    return TaskOutcome::Failed;
                }
                tokio::time::sleep(backoff_delay(sub.backoff, inner.backoff_cap, attempts)).await;
            }
            if record.is_expired_at(SystemTime::now()) {
                inner.counters.expired.incr();
                return TaskOutcome::Expired;
            }
            attempts += 1;
            match self.attempt_once(sub, record).await {
                Ok(()) => {
                    sub.delivered.incr();
                    inner.counters.delivered.incr();
                    return TaskOutcome::Handled;
                }
                Err(error) => {
                    sub.failed.incr();
                    inner.counters.failed.incr();
                    last_error = Some(error.into());
                }
            }
        }
    }

    /// Schedules `sub` on `record`: directly, or through its queue when it has
    /// `concurrency`. `first` is a failed inline attempt of a sync handler to retry.
    /// Returns what the caller may await, or `None` when the queue refused the event.
    pub(crate) fn schedule(
        &self,
        sub: &Arc<Subscription>,
        record: &Record,
        first: Option<(u32, String)>,
        may_wait: bool,
    ) -> Scheduled {
        if let Some(queue) = &sub.queue {
            return queue.push(self, sub, record, may_wait);
        }
        let token = Inflight::new(&self.inner);
        let (bus, sub, record) = (self.clone(), sub.clone(), record.clone());
        Scheduled::Task(crate::core::spawn_task(async move {
            let _token = token;
            bus.settle(&sub, &record, first).await
        }))
    }
}

/// What [`Bus::schedule`] did.
pub(crate) enum Scheduled {
    /// Running as a task.
    Task(JoinHandle<TaskOutcome>),
    /// Queued; the receiver gets the outcome.
    Queued(oneshot::Receiver<TaskOutcome>),
    /// The queue is full and the caller may wait for room (`emit_and_wait`).
    Full,
    /// Refused by the overflow policy (already counted).
    Refused,
}

impl Scheduled {
    /// Waits for the invocation's outcome. On a full queue it waits for room and
    /// queues `record` for `sub`.
    pub(crate) async fn outcome(
        self,
        bus: &Bus,
        sub: &Arc<Subscription>,
        record: &Record,
    ) -> TaskOutcome {
        match self {
            Scheduled::Task(task) => task.await.unwrap_or(TaskOutcome::Failed),
            Scheduled::Queued(rx) => rx.await.unwrap_or(TaskOutcome::Dropped),
            Scheduled::Full => match &sub.queue {
                Some(queue) => queue.push_when_room(bus, sub, record).await,
                None => TaskOutcome::Dropped,
            },
            Scheduled::Refused => TaskOutcome::Dropped,
        }
    }
}

impl super::Delivery {
    /// Counts one scheduled invocation's outcome.
    pub(crate) fn count(&mut self, outcome: TaskOutcome) {
        match outcome {
            TaskOutcome::Handled => self.handled += 1,
            TaskOutcome::Failed => self.failed += 1,
            TaskOutcome::Expired => self.expired += 1,
            TaskOutcome::Dropped => self.dropped += 1,
        }
    }
}

impl SubQueue {
    fn push(
        self: &Arc<Self>,
        bus: &Bus,
        sub: &Arc<Subscription>,
        record: &Record,
        may_wait: bool,
    ) -> Scheduled {
        let inner = &bus.inner;
        let mut refused = None;
        let (tx, rx) = oneshot::channel();
        {
            let mut st = lock(&self.state);
            if st.items.len() >= self.capacity {
                if may_wait {
                    return Scheduled::Full;
                }
                match inner.overflow {
                    Overflow::DropOldest => {
                        if let Some(old) = st.items.pop_front() {
                            inner.counters.dropped.incr();
                            let _ = old.done.send(TaskOutcome::Dropped);
                        }
                    }
                    Overflow::DeadLetter => refused = Some(record.clone()),
                }
            }
            if refused.is_none() {
                st.items.push_back(Queued {
                    record: record.clone(),
                    done: tx,
                    _token: Inflight::new(inner),
                });
                if st.workers < self.concurrency {
                    st.workers += 1;
                    let (queue, bus, sub) = (self.clone(), bus.clone(), sub.clone());
                    drop(crate::core::spawn_task(async move {
                        queue.work(&bus, &sub).await
                    }));
                }
            }
        }
        match refused {
            Some(record) => {
                let error = format!("queue full ({} events waiting)", self.capacity);
                inner.dead_letter(record, sub, error, 0);
                Scheduled::Refused
            }
            None => Scheduled::Queued(rx),
        }
    }

    /// Waits until the queue has room, then queues `record` (for `emit_and_wait`).
    pub(crate) async fn push_when_room(
        self: &Arc<Self>,
        bus: &Bus,
        sub: &Arc<Subscription>,
        record: &Record,
    ) -> TaskOutcome {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.push(bus, sub, record, true) {
                Scheduled::Full => room.await,
                Scheduled::Queued(rx) => return rx.await.unwrap_or(TaskOutcome::Dropped),
                Scheduled::Task(task) => return task.await.unwrap_or(TaskOutcome::Failed),
                Scheduled::Refused => return TaskOutcome::Dropped,
            }
        }
    }

    async fn work(&self, bus: &Bus, sub: &Subscription) {
        // Gives the worker's slot back however the task ends (also when its runtime
        // drops it), so the queue never believes it has workers it does not have.
        struct Slot<'a> {
            queue: &'a SubQueue,
            held: bool,
        }
        impl Drop for Slot<'_> {
            fn drop(&mut self) {
                if self.held {
                    lock(&self.queue.state).workers -= 1;
                }
            }
        }
        let mut slot = Slot {
            queue: self,
            held: true,
        };
        loop {
            let item = {
                let mut st = lock(&self.state);
                match st.items.pop_front() {
                    Some(item) => item,
                    None => {
                        // Released under the same lock a pusher checks, so no event
                        // is left behind without a worker.
                        st.workers -= 1;
                        slot.held = false;
                        return;
                    }
                }
            };
            self.room.notify_waiters();
            let outcome = bus.settle(sub, &item.record, None).await;
            let _ = item.done.send(outcome);
        }
    }
}
