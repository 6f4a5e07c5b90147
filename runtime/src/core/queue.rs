//! The state of scheduled deliveries: the bounded queue of a handler with
//! `concurrency = N`, the token every scheduled invocation holds, and what became of
//! one. How they run is [`worker`](super::worker)'s.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, Notify};

use super::{lock, Inner};
use crate::envelope::Record;

/// What happened to one scheduled delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskOutcome {
    Handled,
    Failed,
    Expired,
    Dropped,
}

/// Counts a scheduled invocation until dropped.
pub(crate) struct Inflight(Arc<Inner>);

impl Inflight {
    pub(crate) fn new(inner: &Arc<Inner>) -> Inflight {
        inner.inflight.fetch_add(1, Ordering::AcqRel);
        Inflight(inner.clone())
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        if self.0.inflight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

pub(crate) struct Queued {
    pub(crate) record: Record,
    pub(crate) done: oneshot::Sender<TaskOutcome>,
    pub(crate) _token: Inflight,
}

/// The bounded queue of one subscription with `concurrency = N`: at most N workers
/// drain it; a worker exits when the queue is empty, so idle handlers cost nothing.
pub(crate) struct SubQueue {
    pub(crate) concurrency: usize,
    pub(crate) capacity: usize,
    pub(crate) state: Mutex<QueueState>,
    pub(crate) room: Notify,
}

#[derive(Default)]
pub(crate) struct QueueState {
    pub(crate) items: VecDeque<Queued>,
    pub(crate) workers: usize,
}

impl SubQueue {
    pub(crate) fn new(concurrency: usize, capacity: usize) -> SubQueue {
        SubQueue {
            concurrency: concurrency.max(1),
            capacity: capacity.max(1),
            state: Mutex::new(QueueState::default()),
            room: Notify::new(),
        }
    }

    /// Events waiting (not yet running).
    pub(crate) fn depth(&self) -> usize {
        lock(&self.state).items.len()
    }
}
