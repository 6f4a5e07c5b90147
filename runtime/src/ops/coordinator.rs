//! The [`Coordinator`]: targets, their queues and resolution rounds, execution slots,
//! cancellation, recovery, metrics and health.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use uuid::Uuid;

use super::events::OperationConflict;
use super::health::{Health, HealthStatus};
use super::lineage::Lineage;
use super::metrics::{Counters, Metrics};
use super::resolve::{self, rank};
use super::runner::{self, Runner};
use super::shard::{IdMap, Sharded};
use super::slots::{Place, Slots};
use super::state::OpState;
use super::{Config, OpHandle, OpId, Operation, Status, SubmitError};
use crate::bus::context::InCurrentContext;
use crate::bus::Bus;

/// Resolves operations on shared targets by priority, runs the winners, retries
/// failures and reports every transition as an event on its bus.
///
/// `Coordinator` is a cheap handle (an `Arc`); clones share one coordinator. See the
/// [module documentation](super) for the rules.
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) bus: Bus,
    config: Config,
    targets: Sharded<Uuid, Target>,
    pub(crate) lineage: Lineage,
    slots: Slots,
    pub(crate) counters: Counters,
    /// Operations in target queues.
    pending: AtomicU64,
    /// Submission counter, for ties.
    seq: AtomicU64,
    /// Origin of the coordinator's clock (tokio's, so that paused time applies).
    epoch: tokio::time::Instant,
    grace_nanos: u64,
    jitter: AtomicU64,
    runtime: Option<tokio::runtime::Handle>,
}

/// One target: what executes on it and what waits for it.
#[derive(Default)]
struct Target {
    executing: Option<Arc<OpState>>,
    /// In no particular order: rounds rank by priority and submission order.
    pending: Vec<Waiting>,
    /// On the execution-slot wait list.
    waiting_for_slot: bool,
}

/// A pending operation in its target's queue.
struct Waiting {
    op: Arc<OpState>,
    /// When it became pending (coordinator clock), for the grace period.
    since: u64,
    /// Its parked future, until it first runs; `None` once it is a task (a retry).
    runner: Option<Runner>,
}

/// What driving a target did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Drive {
    /// A round ran and its winner started.
    Started,
    /// The target waits for an execution slot.
    Waiting,
    /// The target is executing already.
    Busy,
    /// Nothing to do.
    Idle,
}

type Shard<'a> = MutexGuard<'a, IdMap<Uuid, Target>>;

impl Coordinator {
    /// A coordinator that emits its events on `bus`.
    ///
    /// Operations run as tokio tasks: on the runtime current when they start, else on
    /// the one current here.
    pub fn new(bus: &Bus, config: Config) -> Coordinator {
        let seed = Uuid::new_v4().as_u64_pair().0;
        Coordinator {
            inner: Arc::new(Inner {
                bus: bus.clone(),
                targets: Sharded::default(),
                lineage: Lineage::default(),
                slots: Slots::new(config.max_concurrent_executions),
                counters: Counters::default(),
                pending: AtomicU64::new(0),
                seq: AtomicU64::new(0),
                epoch: tokio::time::Instant::now(),
                grace_nanos: nanos(config.grace_period),
                jitter: AtomicU64::new(seed),
                runtime: tokio::runtime::Handle::try_current().ok(),
                config,
            }),
        }
    }

    /// Submits `op`, to run `work` when it wins its target.
    ///
    /// `work` is called once per attempt and its future runs inside the attempt's
    /// `operation.started` event (events it emits nest there), with the coordinator's
    /// bus current. `Err(e)` and panics fail the attempt (`e`'s `Display` text is the
    /// error). The operation nests under the context current here.
    ///
    /// Fails when `op.id` is already live, or when its parent links lead back to it.
    ///
    /// # Panics
    ///
    /// When the operation must start (now or later) outside a tokio runtime and the
    /// coordinator was also made outside one.
    pub fn submit<T, E, W, Fut>(&self, op: Operation, work: W) -> Result<OpHandle<T>, SubmitError>
    where
        W: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: fmt::Display + 'static,
    {
        let inner = &self.inner;
        let max_retries = op.max_retries.unwrap_or(inner.config.default_max_retries);
        let effective = inner.lineage.register(&op)?;
        let seq = inner.seq.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(OpState::new(op, effective, max_retries, seq));
        let (tx, rx) = oneshot::channel();
        let run = runner::run(inner.clone(), state.clone(), work, tx);
        let runner: Runner = Box::pin(crate::scope(&inner.bus, run).in_current_context());
        inner.counters.submitted.incr();
        inner.enqueue(state.clone(), Some(runner));
        Ok(OpHandle::new(state, inner.clone(), rx))
    }

    /// Returns stuck executions (running longer than
    /// [`Config::stuck_after`](super::Config::stuck_after)) to pending: their work is
    /// dropped, `operation.retry` is emitted with reason `recovered` (no retry is
    /// counted), and they take part in their target's next round. Returns their ids.
    pub fn recover(&self) -> Vec<OpId> {
        let stuck = self.inner.stuck();
        for op in &stuck {
            op.request_recover();
        }
        stuck.iter().map(|op| op.id).collect()
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        let c = &self.inner.counters;
        Metrics {
            submitted: c.submitted.get(),
            completed: c.completed.get(),
            rejected: c.rejected.get(),
            failed: c.failed.get(),
            retried: c.retried.get(),
            cancelled: c.cancelled.get(),
            recovered: c.recovered.get(),
            conflicts: c.conflicts.get(),
            grace_period_saves: c.grace_saves.get(),
            executing_protections: c.executing_protections.get(),
            resolution: super::metrics::summary(&c.resolution),
            executing: self.inner.slots.executing() as u64,
            pending: self.inner.pending.load(Ordering::Relaxed),
        }
    }

    /// Healthy, or degraded when executions are stuck or the queues are deeper than
    /// [`Config::max_queue_depth`](super::Config::max_queue_depth).
    pub fn health(&self) -> Health {
        let inner = &self.inner;
        let stuck: Vec<OpId> = inner.stuck().iter().map(|op| op.id).collect();
        let pending = inner.pending.load(Ordering::Relaxed);
        let mut reasons = Vec::new();
        if !stuck.is_empty() {
            reasons.push(format!(
                "{} execution(s) running longer than {:?}",
                stuck.len(),
                inner.config.stuck_after
            ));
        }
        if pending > inner.config.max_queue_depth as u64 {
            reasons.push(format!(
                "queue depth {pending} exceeds {}",
                inner.config.max_queue_depth
            ));
        }
        Health {
            status: if reasons.is_empty() {
                HealthStatus::Healthy
            } else {
                HealthStatus::Degraded
            },
            reasons,
            executing: inner.slots.executing() as u64,
            pending,
            stuck,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The bus the events go to.
    pub fn bus(&self) -> &Bus {
        &self.inner.bus
    }
}

impl fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coordinator")
            .field("executing", &self.inner.slots.executing())
            .field("pending", &self.inner.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Inner {
    /// Now, in nanoseconds on the coordinator's clock.
    fn now(&self) -> u64 {
        nanos(tokio::time::Instant::now().saturating_duration_since(self.epoch))
    }

    /// The jittered wait before retry number `retry` (from 0).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        // splitmix64: a fresh, well-mixed 64-bit value per call, without a lock.
        let mut z = self
            .jitter
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
        self.config.backoff(retry).mul_f64(0.8 + 0.4 * unit)
    }

    /// Puts `op` in its target's queue and runs a round if the target is free.
    pub(crate) fn enqueue(&self, op: Arc<OpState>, runner: Option<Runner>) {
        let start = Instant::now();
        let since = if self.grace_nanos == 0 { 0 } else { self.now() };
        let target = op.target;
        let mut shard = self.targets.lock(&target);
        let st = shard.entry(target).or_default();
        if st
            .executing
            .as_ref()
            .is_some_and(|running| op.effective > running.effective)
        {
            self.counters.executing_protections.incr();
        }
        let free = st.executing.is_none() && !st.waiting_for_slot;
        st.pending.push(Waiting { op, since, runner });
        self.pending.fetch_add(1, Ordering::Relaxed);
        if free {
            self.drive(shard, target, Place::Back, start);
        }
    }

    /// Ends `op`'s execution on its target: frees the target and its slot, then runs
    /// the next round there (and on a target waiting for the slot).
    pub(crate) fn release(&self, op: &OpState) {
        let start = Instant::now();
        let target = op.target;
        let mut shard = self.targets.lock(&target);
        let mine = shard
            .get_mut(&target)
            .filter(|st| st.executing.as_ref().is_some_and(|e| e.id == op.id));
        let Some(st) = mine else {
            return;
        };
        st.executing = None;
        let waiters = self.slots.release();
        self.drive(shard, target, Place::Back, start);
        if waiters {
            self.wake_waiting();
        }
    }

    /// Gives freed slots to the targets waiting for one, in order.
    fn wake_waiting(&self) {
        while let Some(target) = self.slots.next_waiting() {
            let shard = self.targets.lock(&target);
            match self.drive(shard, target, Place::Front, Instant::now()) {
                Drive::Started | Drive::Waiting => return,
                Drive::Busy | Drive::Idle => {}
            }
        }
    }

    /// Runs a round on `target` if it can: free, something pending, a slot available.
    fn drive(&self, mut shard: Shard<'_>, target: Uuid, place: Place, start: Instant) -> Drive {
        let Some(st) = shard.get_mut(&target) else {
            return Drive::Idle;
        };
        if st.waiting_for_slot {
            if place == Place::Back {
                return Drive::Waiting;
            }
            st.waiting_for_slot = false;
        }
        if st.executing.is_some() {
            return Drive::Busy;
        }
        if st.pending.is_empty() {
            shard.remove(&target);
            return Drive::Idle;
        }
        if !self.slots.acquire(target, place) {
            st.waiting_for_slot = true;
            return Drive::Waiting;
        }
        let now = self.now();
        let grace = self.grace_nanos;
        let round = resolve::round(
            &mut st.pending,
            |w| rank(w.op.effective, w.op.seq),
            |w| now.saturating_sub(w.since) < grace,
        );
        let Some(round) = round else {
            return Drive::Idle; // unreachable: `pending` is not empty
        };
        let winner = round.winner;
        winner.op.started_at.store(now, Ordering::Relaxed);
        winner.op.set_status(Status::Executing);
        st.executing = Some(winner.op.clone());
        for loser in &round.rejected {
            loser.op.preempt(winner.op.id);
        }
        let spared: Vec<OpId> = if round.spared > 0 {
            st.pending.iter().map(|w| w.op.id).collect()
        } else {
            Vec::new()
        };
        drop(shard);
        self.pending
            .fetch_sub(1 + round.rejected.len() as u64, Ordering::Relaxed);
        self.counters
            .resolution
            .record(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
        if round.contenders > 1 {
            self.counters.conflicts.incr();
            self.counters.grace_saves.add(round.spared as u64);
            let rejected = round.rejected.iter().map(|w| w.op.id).collect();
            self.bus.emit(OperationConflict::of(
                &winner.op,
                u32::try_from(round.contenders).unwrap_or(u32::MAX),
                rejected,
                spared,
            ));
        }
        for loser in round.rejected {
            self.settle(loser);
        }
        match winner.runner {
            Some(runner) => self.spawn(runner),
            None => winner.op.decided.notify_one(),
        }
        Drive::Started
    }

    /// Takes a pending `op` out of its queue as cancelled; `None` when it is not queued.
    pub(crate) fn withdraw(&self, op: &OpState) -> Option<()> {
        let target = op.target;
        let mut shard = self.targets.lock(&target);
        let st = shard.get_mut(&target)?;
        let i = st.pending.iter().position(|w| w.op.id == op.id)?;
        let waiting = st.pending.swap_remove(i);
        waiting.op.set_status(Status::Cancelled);
        if st.pending.is_empty() && st.executing.is_none() && !st.waiting_for_slot {
            shard.remove(&target);
        }
        drop(shard);
        self.pending.fetch_sub(1, Ordering::Relaxed);
        self.settle(waiting);
        Some(())
    }

    /// Cancels `op` (see [`OpHandle::cancel`]).
    pub(crate) fn cancel(&self, op: &OpState) -> bool {
        if op.status().is_final() {
            return false;
        }
        op.request_cancel();
        self.withdraw(op);
        true
    }

    /// Lets a decided operation's runner act on the decision: polls a parked one on the
    /// spot (it only reports), wakes a waiting task.
    fn settle(&self, waiting: Waiting) {
        match waiting.runner {
            Some(mut runner) => {
                let mut cx = Context::from_waker(Waker::noop());
                if runner.as_mut().poll(&mut cx).is_pending() {
                    self.spawn(runner);
                }
            }
            None => waiting.op.decided.notify_one(),
        }
    }

    fn spawn(&self, runner: Runner) {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(runner);
        } else if let Some(handle) = &self.runtime {
            handle.spawn(runner);
        } else {
            panic!("herald::ops: an operation must start, but there is no tokio runtime");
        }
    }

    /// Executions running longer than `stuck_after`.
    fn stuck(&self) -> Vec<Arc<OpState>> {
        let now = self.now();
        let limit = nanos(self.config.stuck_after);
        let mut stuck = Vec::new();
        self.targets.for_each_shard(|targets| {
            for st in targets.values() {
                if let Some(op) = &st.executing {
                    if now.saturating_sub(op.started_at.load(Ordering::Relaxed)) > limit {
                        stuck.push(op.clone());
                    }
                }
            }
        });
        stuck
    }
}
