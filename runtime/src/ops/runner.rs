//! The life of one operation after submission, as a future: wait for a decision, run
//! attempts, back off and retry, report the outcome.
//!
//! The future is made at submission, inside the submitter's context, and stays parked
//! in the target's queue until a round decides about it: a winner's is spawned, a
//! loser's or a withdrawn one's is polled once on the spot (it only reports). After a
//! failure it puts itself back in the queue and waits, as a task, for the next decision.

use crate::unwind::panic_text;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use tokio::sync::oneshot;

use super::error::max_retries_reason;
use super::events::{
    OperationCancelled, OperationCompleted, OperationFailed, OperationRejected, OperationRetry,
    OperationStarted,
};
use super::scheduler::Scheduler as Inner;
use super::state::{Interrupt, OpState};
use super::{OpError, Status, PREEMPTED};

/// Runs the operation `op` to its end and sends the outcome.
pub(crate) async fn run<T, E, W, Fut>(
    inner: Arc<Inner>,
    op: Arc<OpState>,
    mut work: W,
    outcome: oneshot::Sender<Result<T, OpError>>,
) where
    W: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    let result = lifecycle(&inner, &op, &mut work).await;
    inner.lineage.forget(op.id);
    // The handle may be gone: nobody wants the value then.
    let _ = outcome.send(result);
}

async fn lifecycle<T, E, W, Fut>(
    inner: &Inner,
    op: &Arc<OpState>,
    work: &mut W,
) -> Result<T, OpError>
where
    W: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    loop {
        match decision(inner, op).await {
            Status::Executing => {}
            Status::Rejected => return Err(preempted(inner, op)),
            _ => return Err(cancelled(inner, op, Status::Pending)),
        }
        if op.cancel_requested() {
            op.set_status(Status::Cancelled);
            inner.release(op);
            return Err(cancelled(inner, op, Status::Executing));
        }
        op.clear_recover();
        let number = op.count_attempt();
        match race(attempt(op, number, work), op.interrupted()).await {
            Either::Left(Ok(value)) => {
                op.set_status(Status::Succeeded);
                inner.counters.completed.incr();
                inner.release(op);
                return Ok(value);
            }
            Either::Left(Err(error)) => {
                inner.counters.failed.incr();
                if !op.will_retry() {
                    op.set_status(Status::Rejected);
                    inner.release(op);
                    return Err(out_of_retries(inner, op, error));
                }
                op.set_status(Status::Failed);
                inner.release(op);
                let delay = inner.backoff(op.retries());
                let retry = op.count_retry();
                inner.counters.retried.incr();
                inner.bus.emit(OperationRetry::of(
                    op,
                    "attempt_failed".into(),
                    retry,
                    op.max_retries,
                    delay,
                    Some(error),
                ));
                let mut sleep = pin!(tokio::time::sleep(delay));
                loop {
                    match race(sleep.as_mut(), op.interrupted()).await {
                        Either::Left(()) => break,
                        Either::Right(Interrupt::Cancel) => {
                            op.set_status(Status::Cancelled);
                            return Err(cancelled(inner, op, Status::Failed));
                        }
                        // A request meant for the attempt that just ended.
                        Either::Right(Interrupt::Recover) => {}
                    }
                }
                op.set_status(Status::Pending);
                inner.enqueue(op.clone(), None);
            }
            Either::Right(Interrupt::Cancel) => {
                op.set_status(Status::Cancelled);
                inner.release(op);
                return Err(cancelled(inner, op, Status::Executing));
            }
            Either::Right(Interrupt::Recover) => {
                inner.counters.recovered.incr();
                inner.bus.emit(OperationRetry::of(
                    op,
                    "recovered".into(),
                    op.retries(),
                    op.max_retries,
                    std::time::Duration::ZERO,
                    None,
                ));
                // Back in the queue before the target is freed, so it takes part in
                // the round that the release runs.
                op.set_status(Status::Pending);
                inner.enqueue(op.clone(), None);
                inner.release(op);
            }
        }
    }
}

/// Waits until the operation's status is no longer `Pending`; a cancellation request
/// withdraws it from its queue.
async fn decision(inner: &Inner, op: &OpState) -> Status {
    loop {
        let status = op.status();
        if status != Status::Pending {
            return status;
        }
        if op.cancel_requested() && inner.withdraw(op).is_some() {
            return Status::Cancelled;
        }
        race(op.decided.notified(), op.signal.notified()).await;
    }
}

fn preempted(inner: &Inner, op: &OpState) -> OpError {
    let by = op.preempted_by();
    inner.counters.rejected.incr();
    inner.bus.emit(OperationRejected::of(
        op,
        PREEMPTED.into(),
        Some(by),
        op.retries(),
        None,
    ));
    OpError::Rejected { by }
}

fn out_of_retries(inner: &Inner, op: &OpState, error: String) -> OpError {
    let retries = op.retries();
    inner.counters.rejected.incr();
    inner.bus.emit(OperationRejected::of(
        op,
        max_retries_reason(retries).into(),
        None,
        retries,
        Some(error.clone()),
    ));
    OpError::Failed { error, retries }
}

fn cancelled(inner: &Inner, op: &OpState, during: Status) -> OpError {
    inner.counters.cancelled.incr();
    inner.bus.emit(OperationCancelled::of(op, during));
    OpError::Cancelled
}

/// One attempt: `operation.started`, the work (nested under it), then
/// `operation.completed` or `operation.failed`. Dropped unfinished (cancelled or
/// recovered), it closes with herald's `operation.attempt.cancelled`.
#[herald::instrument_events(
    name = "operation.attempt",
    started = OperationStarted::of(op, number),
    completed = |_| OperationCompleted::of(op, number),
    failed = |error: &String| OperationFailed::of(op, number, error.clone(), op.will_retry()),
)]
async fn attempt<T, E, W, Fut>(op: &OpState, number: u32, work: &mut W) -> Result<T, String>
where
    W: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    guarded(work).await
}

/// Calls `work` and awaits its future; an error becomes its text, a panic its message.
async fn guarded<T, E, W, Fut>(work: &mut W) -> Result<T, String>
where
    W: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    let fut = match panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(fut) => fut,
        Err(payload) => return Err(panic_text(&*payload)),
    };
    let mut fut = pin!(fut);
    let polled =
        poll_fn(
            |cx| match panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Err(panic_text(&*payload))),
            },
        )
        .await;
    match polled {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.to_string()),
        Err(text) => Err(text),
    }
}

pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls both futures, `a` first; the first to finish wins and the other is dropped.
pub(crate) async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}
