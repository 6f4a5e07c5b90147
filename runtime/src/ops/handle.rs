//! [`OpHandle`]: a submitted operation's status, outcome and cancellation.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::scheduler::Scheduler as Inner;
use super::state::OpState;
use super::{OpError, OpId, Status};
use crate::event::Priority;

/// A submitted operation: its [`status`](OpHandle::status), its outcome (await the
/// handle, or [`outcome`](OpHandle::outcome)) and [`cancel`](OpHandle::cancel).
///
/// Dropping the handle does not cancel the operation; its outcome is then discarded.
#[must_use = "dropping the handle discards the outcome (the operation still runs)"]
pub struct OpHandle<T> {
    op: Arc<OpState>,
    coordinator: Arc<Inner>,
    outcome: oneshot::Receiver<Result<T, OpError>>,
}

impl<T> OpHandle<T> {
    pub(crate) fn new(
        op: Arc<OpState>,
        coordinator: Arc<Inner>,
        outcome: oneshot::Receiver<Result<T, OpError>>,
    ) -> Self {
        OpHandle {
            op,
            coordinator,
            outcome,
        }
    }

    /// The operation's id.
    pub fn id(&self) -> OpId {
        self.op.id
    }

    /// Where the operation is now.
    pub fn status(&self) -> Status {
        self.op.status()
    }

    /// The priority it is resolved with: its own, or an ancestor's when higher.
    pub fn effective_priority(&self) -> Priority {
        self.op.effective
    }

    /// Retries made so far (never more than its `max_retries`).
    pub fn retry_count(&self) -> u32 {
        self.op.retries()
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.op.attempts()
    }

    /// Cancels the operation: a pending one leaves its queue, an executing one has its
    /// work dropped (and frees its target), one waiting for a retry stops waiting. Its
    /// outcome is then `Err(OpError::Cancelled)` and `operation.cancelled` is emitted.
    ///
    /// Returns false when the operation had ended already. An operation that ends while
    /// the cancellation is on its way keeps its own outcome: the outcome says what
    /// happened.
    pub fn cancel(&self) -> bool {
        self.coordinator.cancel(&self.op)
    }

    /// Waits for the outcome: the work's value, or why there is none.
    pub async fn outcome(self) -> Result<T, OpError> {
        self.await
    }
}

impl<T> Future for OpHandle<T> {
    type Output = Result<T, OpError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A runner dropped without an outcome (its runtime shut down) never ran to its end.
        Pin::new(&mut self.outcome)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(OpError::Cancelled)))
    }
}

impl<T> fmt::Debug for OpHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpHandle")
            .field("id", &self.op.id)
            .field("op_type", &self.op.op_type)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}
