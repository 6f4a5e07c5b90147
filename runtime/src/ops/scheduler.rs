//! The coordinator's shared state and its scheduling: per-target queues, rounds that
//! pick a winner by effective priority, execution slots, and releases.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::events::OperationConflict;
use super::lineage::Lineage;
use super::metrics::Counters;
use super::resolve::{self, rank};
use super::shard::{IdMap, Sharded};
use super::slots::{Place, Slots};
use super::state::OpState;
use super::{Config, OpId, Status};
use crate::core::Bus;

/// What the handles of one coordinator share: its targets and their queues, slots,
/// lineage and counters.
pub(crate) struct Scheduler {
    pub(crate) bus: Bus,
    pub(crate) config: Config,
    targets: Sharded<Uuid, Target>,
    pub(crate) lineage: Lineage,
    pub(crate) slots: Slots,
    pub(crate) counters: Counters,
    /// Operations in target queues.
    pub(crate) pending: AtomicU64,
    /// Submission counter, for ties.
    pub(crate) seq: AtomicU64,
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

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Scheduler {
    /// The state of a new coordinator that emits its events on `bus`.
    pub(crate) fn new(bus: &Bus, config: Config) -> Scheduler {
        let seed = Uuid::new_v4().as_u64_pair().0;
        Scheduler {
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
        }
    }

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
    pub(crate) fn stuck(&self) -> Vec<Arc<OpState>> {
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

/// An operation's parked future.
pub(crate) type Runner = Pin<Box<dyn Future<Output = ()> + Send>>;
