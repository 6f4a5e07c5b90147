//! What an operation is ([`Operation`]), who it is ([`OpId`]) and where it is in its
//! life ([`Status`]).

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::Priority;

/// The identity of an operation: assigned once, kept through every status change and
/// every retry. Unique within the process.
///
/// ```
/// use herald::ops::OpId;
///
/// let a = OpId::generate();
/// let b = OpId::generate();
/// assert_ne!(a, b);
/// assert_eq!(a.to_string(), format!("op-{}", a.value()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpId(u64);

impl OpId {
    /// A fresh id, never handed out before in this process.
    pub fn generate() -> OpId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        OpId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The numeric value.
    pub const fn value(self) -> u64 {
        self.0
    }

    pub(crate) const fn from_value(value: u64) -> OpId {
        OpId(value)
    }
}

impl fmt::Debug for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpId({})", self.0)
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op-{}", self.0)
    }
}

/// An operation on a target, to be submitted to a [`Coordinator`](super::Coordinator).
///
/// The fields are public; [`Operation::new`] fills the defaults (a fresh id, priority
/// `Normal`, no parent, the coordinator's default retries) and the `with_` methods set
/// the rest:
///
/// ```
/// use herald::ops::Operation;
/// use herald::{Priority, Uuid};
///
/// let entity = Uuid::new_v4();
/// let parent = Operation::new("entity.promote", entity).with_priority(Priority::High);
/// let child = Operation::new("entity.version", entity)
///     .with_priority(Priority::Low)
///     .with_parent(parent.id)
///     .with_max_retries(2);
/// assert_eq!(child.parent, Some(parent.id));
/// assert_eq!(child.max_retries, Some(2));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The operation's id, chosen before submission so that children can name it.
    pub id: OpId,
    /// What kind of operation this is, such as `entity.version`.
    pub op_type: Cow<'static, str>,
    /// The entity the operation acts on; operations on one target are resolved against
    /// each other, operations on different targets run concurrently.
    pub target: Uuid,
    /// How urgent the operation is (its own priority, before inheritance).
    pub priority: Priority,
    /// The operation this one is part of: a child inherits its ancestors' priority
    /// when that is higher than its own.
    pub parent: Option<OpId>,
    /// How many times a failed attempt is retried; `None` takes
    /// [`Config::default_max_retries`](super::Config::default_max_retries).
    pub max_retries: Option<u32>,
}

impl Operation {
    /// An operation of type `op_type` on `target`, with a fresh id and priority `Normal`.
    pub fn new(op_type: impl Into<Cow<'static, str>>, target: Uuid) -> Operation {
        Operation {
            id: OpId::generate(),
            op_type: op_type.into(),
            target,
            priority: Priority::Normal,
            parent: None,
            max_retries: None,
        }
    }

    /// Sets the priority.
    #[must_use]
    pub fn with_priority(mut self, priority: impl Into<Priority>) -> Operation {
        self.priority = priority.into();
        self
    }

    /// Sets the parent operation.
    #[must_use]
    pub fn with_parent(mut self, parent: OpId) -> Operation {
        self.parent = Some(parent);
        self
    }

    /// Sets how many times a failed attempt is retried.
    #[must_use]
    pub fn with_max_retries(mut self, max_retries: u32) -> Operation {
        self.max_retries = Some(max_retries);
        self
    }
}

/// Where an operation is in its life.
///
/// `Pending -> Executing -> Succeeded`; a failed attempt makes it `Failed` while it waits
/// for its backoff, then `Pending` again; `Rejected` (preempted, or out of retries) and
/// `Cancelled` are final too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its target (or for an execution slot) and for resolution.
    Pending,
    /// Its work is running.
    Executing,
    /// Its work returned `Ok` (final).
    Succeeded,
    /// An attempt failed; a retry is scheduled after the backoff.
    Failed,
    /// Preempted by a higher-priority operation, or out of retries (final).
    Rejected,
    /// Cancelled through its handle (final).
    Cancelled,
}

impl Status {
    /// Whether the operation is over (`Succeeded`, `Rejected` or `Cancelled`).
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Status::Succeeded | Status::Rejected | Status::Cancelled
        )
    }

    /// The lowercase name used in events and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Executing => "executing",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Rejected => "rejected",
            Status::Cancelled => "cancelled",
        }
    }

    pub(crate) const fn to_u8(self) -> u8 {
        self as u8
    }

    pub(crate) const fn from_u8(n: u8) -> Status {
        match n {
            0 => Status::Pending,
            1 => Status::Executing,
            2 => Status::Succeeded,
            3 => Status::Failed,
            4 => Status::Rejected,
            _ => Status::Cancelled,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_u8() {
        for s in [
            Status::Pending,
            Status::Executing,
            Status::Succeeded,
            Status::Failed,
            Status::Rejected,
            Status::Cancelled,
        ] {
            assert_eq!(Status::from_u8(s.to_u8()), s);
        }
        assert!(Status::Rejected.is_final());
        assert!(!Status::Failed.is_final());
    }
}
