//! Why an operation did not produce a value ([`OpError`]) and why it could not be
//! submitted ([`SubmitError`]).

use std::borrow::Cow;

use super::OpId;

/// The reason given to an operation that loses a resolution round.
pub const PREEMPTED: &str = "preempted_by_higher_priority";

/// Why an operation ended without a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// It lost a resolution round to `by` (status `Rejected`, reason
    /// [`preempted_by_higher_priority`](PREEMPTED)).
    #[error("operation rejected: {PREEMPTED} ({by})")]
    Rejected {
        /// The operation that won the round.
        by: OpId,
    },
    /// Its work failed on every attempt: the first and `retries` retries (status
    /// `Rejected`, reason `max retries (N) exceeded`).
    #[error("operation failed: max retries ({retries}) exceeded: {error}")]
    Failed {
        /// The error text of the last attempt.
        error: String,
        /// The retries made (the operation's `max_retries`).
        retries: u32,
    },
    /// It was cancelled through its handle (status `Cancelled`).
    #[error("operation cancelled")]
    Cancelled,
}

impl OpError {
    /// The reason carried by the operation's final event: `preempted_by_higher_priority`,
    /// `max retries (N) exceeded` or `cancelled`.
    pub fn reason(&self) -> Cow<'static, str> {
        match self {
            OpError::Rejected { .. } => Cow::Borrowed(PREEMPTED),
            OpError::Failed { retries, .. } => Cow::Owned(max_retries_reason(*retries)),
            OpError::Cancelled => Cow::Borrowed("cancelled"),
        }
    }
}

pub(crate) fn max_retries_reason(retries: u32) -> String {
    format!("max retries ({retries}) exceeded")
}

/// Why [`Coordinator::submit`](super::Coordinator::submit) refused an operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// An operation with this id is already live in the coordinator.
    #[error("operation {0} is already submitted")]
    DuplicateId(OpId),
    /// Following parent links from the operation leads back to it.
    #[error("the parent links of operation {id} form a cycle: {}", cycle_text(.cycle))]
    ParentCycle {
        /// The operation that was refused.
        id: OpId,
        /// The cycle, starting and ending with `id`.
        cycle: Vec<OpId>,
    },
}

fn cycle_text(cycle: &[OpId]) -> String {
    cycle
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" -> ")
}
