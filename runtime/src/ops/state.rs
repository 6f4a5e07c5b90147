//! The state one operation shares between its handle, its runner and its target.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use tokio::sync::Notify;
use uuid::Uuid;

use super::{OpId, Operation, Status};
use crate::event::Priority;

/// One operation: what it is (fixed at submission) and where it is (atomics).
///
/// Status changes that decide an operation's fate (winning, losing, being withdrawn)
/// are made under its target's lock; the runner makes the others (success, failure,
/// backoff, cancellation of what it runs) and is the only one to deliver the outcome.
pub(crate) struct OpState {
    pub(crate) id: OpId,
    pub(crate) op_type: Cow<'static, str>,
    pub(crate) target: Uuid,
    pub(crate) priority: Priority,
    /// The highest priority of the operation and its known ancestors at submission.
    pub(crate) effective: Priority,
    pub(crate) max_retries: u32,
    /// Submission order, for ties.
    pub(crate) seq: u64,
    status: AtomicU8,
    retries: AtomicU32,
    attempts: AtomicU32,
    /// The winner of the round this operation lost.
    preempted_by: AtomicU64,
    /// When the current execution started (nanoseconds on the coordinator's clock).
    pub(crate) started_at: AtomicU64,
    cancel: AtomicBool,
    recover: AtomicBool,
    /// Woken when the operation's status is decided while its runner waits for it.
    pub(crate) decided: Notify,
    /// Woken by `cancel()` and `recover()`.
    pub(crate) signal: Notify,
}

/// What asked an executing or waiting runner to stop what it is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interrupt {
    Cancel,
    Recover,
}

impl OpState {
    pub(crate) fn new(op: Operation, effective: Priority, max_retries: u32, seq: u64) -> OpState {
        OpState {
            id: op.id,
            op_type: op.op_type,
            target: op.target,
            priority: op.priority,
            effective,
            max_retries,
            seq,
            status: AtomicU8::new(Status::Pending.to_u8()),
            retries: AtomicU32::new(0),
            attempts: AtomicU32::new(0),
            preempted_by: AtomicU64::new(0),
            started_at: AtomicU64::new(0),
            cancel: AtomicBool::new(false),
            recover: AtomicBool::new(false),
            decided: Notify::new(),
            signal: Notify::new(),
        }
    }

    #[inline]
    pub(crate) fn status(&self) -> Status {
        Status::from_u8(self.status.load(Ordering::Acquire))
    }

    #[inline]
    pub(crate) fn set_status(&self, status: Status) {
        self.status.store(status.to_u8(), Ordering::Release);
    }

    pub(crate) fn retries(&self) -> u32 {
        self.retries.load(Ordering::Acquire)
    }

    pub(crate) fn count_retry(&self) -> u32 {
        self.retries.fetch_add(1, Ordering::AcqRel) + 1
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Acquire)
    }

    pub(crate) fn count_attempt(&self) -> u32 {
        self.attempts.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Marks the operation rejected in favour of `winner` (under the target's lock).
    pub(crate) fn preempt(&self, winner: OpId) {
        self.preempted_by.store(winner.value(), Ordering::Relaxed);
        self.set_status(Status::Rejected);
    }

    pub(crate) fn preempted_by(&self) -> OpId {
        OpId::from_value(self.preempted_by.load(Ordering::Relaxed))
    }

    pub(crate) fn request_cancel(&self) {
        self.cancel.store(true, Ordering::Release);
        self.signal.notify_one();
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }

    pub(crate) fn request_recover(&self) {
        self.recover.store(true, Ordering::Release);
        self.signal.notify_one();
    }

    /// Forgets a recovery request left over from an earlier attempt.
    pub(crate) fn clear_recover(&self) {
        self.recover.store(false, Ordering::Release);
    }

    /// Waits until `cancel()` or `recover()` asks for something; a recovery request is
    /// consumed.
    pub(crate) async fn interrupted(&self) -> Interrupt {
        loop {
            if self.cancel_requested() {
                return Interrupt::Cancel;
            }
            if self.recover.swap(false, Ordering::AcqRel) {
                return Interrupt::Recover;
            }
            self.signal.notified().await;
        }
    }

    /// Whether a failure of the current attempt will be retried (barring cancellation).
    pub(crate) fn will_retry(&self) -> bool {
        self.retries() < self.max_retries
    }
}
