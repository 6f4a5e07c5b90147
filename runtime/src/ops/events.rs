//! The typed events a [`Coordinator`](super::Coordinator) emits for every transition.
//!
//! Each carries the operation's id, type, target, own priority and effective priority,
//! plus what the transition is about. `operation.started` opens an attempt and
//! `operation.completed` / `operation.failed` close it (same parent, causation = the
//! started event, with a duration); everything the work emits nests under the started
//! event.

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::state::OpState;
use super::{OpId, Status};
use crate::event::Priority;

macro_rules! operation_events {
    ($(
        $(#[$meta:meta])*
        $ty:ident = $name:tt {
            $($(#[$fmeta:meta])* $field:ident : $fty:ty),* $(,)?
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, herald::Event)]
        #[event(name = $name)]
        pub struct $ty {
            /// The operation.
            pub op_id: OpId,
            /// Its type, such as `entity.version`.
            pub op_type: Cow<'static, str>,
            /// Its target.
            pub target: Uuid,
            /// Its own priority.
            pub priority: Priority,
            /// The priority it was resolved with (inherited from an ancestor when higher).
            pub effective_priority: Priority,
            $($(#[$fmeta])* pub $field: $fty,)*
        }

        impl $ty {
            #[allow(clippy::too_many_arguments)]
            pub(crate) fn of(op: &OpState $(, $field: $fty)*) -> $ty {
                $ty {
                    op_id: op.id,
                    op_type: op.op_type.clone(),
                    target: op.target,
                    priority: op.priority,
                    effective_priority: op.effective,
                    $($field,)*
                }
            }
        }
    )*};
}

operation_events! {
    /// An attempt started: the operation won its target (`operation.started`).
    OperationStarted = "operation.started" {
        /// The attempt, from 1.
        attempt: u32,
    }

    /// An attempt's work returned `Ok`: the operation succeeded (`operation.completed`).
    OperationCompleted = "operation.completed" {
        /// The attempt, from 1.
        attempt: u32,
    }

    /// An attempt's work returned `Err` or panicked (`operation.failed`).
    OperationFailed = "operation.failed" {
        /// The attempt, from 1.
        attempt: u32,
        /// The error's `Display` text, or the panic message.
        error: String,
        /// Whether a retry follows (else the operation is rejected).
        will_retry: bool,
    }

    /// The operation goes back to pending (`operation.retry`): after a failed attempt,
    /// once `delay` has passed, or at once when recovered from a stuck execution.
    OperationRetry = "operation.retry" {
        /// Why: `attempt_failed` or `recovered`.
        reason: Cow<'static, str>,
        /// Retries so far, this one included (recoveries do not count).
        retry: u32,
        /// The operation's retry limit.
        max_retries: u32,
        /// The wait before it is pending again (jitter included).
        delay: Duration,
        /// The failed attempt's error text.
        error: Option<String>,
    }

    /// A resolution round had more than one contender (`operation.conflict`); the
    /// common fields describe the winner.
    OperationConflict = "operation.conflict" {
        /// How many pending operations took part, the winner included.
        contenders: u32,
        /// The losers, rejected with `preempted_by_higher_priority`.
        rejected: Vec<OpId>,
        /// The losers spared because they were in their grace period.
        spared: Vec<OpId>,
    }

    /// The operation is rejected (`operation.rejected`).
    OperationRejected = "operation.rejected" {
        /// `preempted_by_higher_priority` or `max retries (N) exceeded`.
        reason: Cow<'static, str>,
        /// The winner, when preempted.
        preempted_by: Option<OpId>,
        /// Retries made.
        retries: u32,
        /// The last attempt's error text, when out of retries.
        error: Option<String>,
    }

    /// The operation is cancelled through its handle (`operation.cancelled`).
    OperationCancelled = "operation.cancelled" {
        /// What it was doing: pending, executing (its work is dropped) or failed
        /// (waiting for a retry).
        during: Status,
    }
}
