//! The [`Coordinator`]: targets, their queues and resolution rounds, execution slots,
//! cancellation, recovery, metrics and health.

use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::health::{Health, HealthStatus};
use super::metrics::Metrics;
use super::runner;
use super::scheduler::{Runner, Scheduler};
use super::state::OpState;
use super::{Config, OpHandle, OpId, Operation, SubmitError};
use crate::core::context::InCurrentContext;
use crate::core::Bus;

/// Resolves operations on shared targets by priority, runs the winners, retries
/// failures and reports every transition as an event on its bus.
///
/// `Coordinator` is a cheap handle (an `Arc`); clones share one coordinator. See the
/// [module documentation](super) for the rules.
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Scheduler>,
}

impl Coordinator {
    /// A coordinator that emits its events on `bus`.
    ///
    /// Operations run as tokio tasks: on the runtime current when they start, else on
    /// the one current here.
    pub fn new(bus: &Bus, config: Config) -> Coordinator {
        Coordinator {
            inner: Arc::new(Scheduler::new(bus, config)),
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
