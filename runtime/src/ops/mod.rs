//! Operations on shared targets, resolved by priority: `herald::ops`.
//!
//! A [`Coordinator`] takes [`Operation`]s, each with a target (the entity it acts on), a
//! priority and optionally a parent, together with the async work to do. It decides who
//! runs, runs the winners as tokio tasks, retries failures with backoff, and emits a
//! typed event for every transition on its bus.
//!
//! ```
//! use herald::ops::{Config, Coordinator, OpError, Operation, Status};
//! use herald::{Bus, Priority, Uuid};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let bus = Bus::builder().registered_handlers(false).build().unwrap();
//! let ops = Coordinator::new(&bus, Config { grace_period: std::time::Duration::ZERO, ..Config::default() });
//! let doc = Uuid::new_v4();
//!
//! // The target is free: this one starts at once.
//! let save = ops.submit(Operation::new("doc.save", doc), || async { Ok::<_, String>("saved") }).unwrap();
//! // These two wait for it; when it finishes, the higher priority wins, the other loses.
//! let index = ops.submit(Operation::new("doc.index", doc).with_priority(Priority::Low), || async { Ok::<_, String>("indexed") }).unwrap();
//! let lock = ops.submit(Operation::new("doc.lock", doc).with_priority(Priority::Critical), || async { Ok::<_, String>("locked") }).unwrap();
//! assert_eq!((save.status(), index.status()), (Status::Executing, Status::Pending));
//!
//! let lock_id = lock.id();
//! assert_eq!(save.await, Ok("saved"));
//! assert_eq!(lock.await, Ok("locked"));
//! assert_eq!(index.await, Err(OpError::Rejected { by: lock_id }));
//!
//! let names: Vec<String> = bus.history().iter().map(|r| r.name().to_owned()).collect();
//! assert!(names.contains(&"operation.conflict".to_owned()));
//! assert_eq!(ops.metrics().completed, 2);
//! # });
//! ```
//!
//! # Resolution, target by target
//!
//! Each target has at most one executing operation and a queue of pending ones.
//!
//! - **Executing operations are never preempted.** An operation submitted to a busy
//!   target waits, `Pending`, whatever its priority (a newcomer above the executing
//!   operation's priority counts as an *executing protection* in [`Metrics`]).
//! - **A round runs when the target is free**: at once when an operation is submitted
//!   to a free target, else when the executing operation finishes (succeeds, fails,
//!   is cancelled or recovered). All pending operations of the target take part.
//! - **The highest effective priority wins**; ties go to the earliest submitted (a
//!   retried operation keeps its place). The winner becomes `Executing`.
//! - **Every other contender loses** and is `Rejected` with reason
//!   [`preempted_by_higher_priority`](PREEMPTED), *unless it is in its grace period*:
//!   an operation that became pending (submitted, retried or recovered) less than
//!   [`Config::grace_period`] ago stays pending for the next round (a *grace-period
//!   save*). A round with more than one contender is a *conflict*: `operation.conflict`
//!   names the winner, the rejected and the spared.
//! - **Effective priority** is the operation's own priority or, when higher, the
//!   highest priority among its ancestors (parent, grandparent...) still live in the
//!   coordinator at submission. A parent link that leads back to the operation is
//!   refused at submission ([`SubmitError::ParentCycle`]); a parent that is not (or no
//!   longer) live is allowed and lends nothing.
//! - **Targets are independent**: their rounds and executions run concurrently, with
//!   at most [`Config::max_concurrent_executions`] executions at once; a target whose
//!   winner would exceed it waits (first come, first served) and runs its round when a
//!   slot frees.
//!
//! # Failures and retries
//!
//! A failed attempt (the work returned `Err` or panicked) makes the operation `Failed`
//! and frees its target. If it has retries left it waits `min(base * 2^n, cap)` (n =
//! retries so far) times a jitter in [0.8, 1.2] — a real `tokio::time::sleep` — and
//! becomes `Pending` again, taking part in its target's rounds like any other. After
//! `max_retries` retries a failure is final: the status is `Rejected` with reason
//! `max retries (N) exceeded`, the outcome [`OpError::Failed`] with the last error. A
//! stuck execution can be sent back to pending with [`Coordinator::recover`].
//!
//! # Events
//!
//! On the coordinator's bus, each carrying the operation's id, type, target, priority
//! and effective priority ([`events`]): `operation.started` opens an attempt and
//! `operation.completed` or `operation.failed` closes it (same parent, caused by the
//! started event, with a duration); the work runs nested under `operation.started`,
//! so what it emits, and what instrumented calls it makes, are its children.
//! `operation.retry`, `operation.rejected` and `operation.cancelled` are emitted in
//! the operation's own context (the one current at `submit`), `operation.conflict` in
//! the context where the round runs. An attempt whose work is dropped (cancelled or
//! recovered while executing) is closed by herald's `operation.attempt.cancelled`.
//!
//! # Where this differs from the written contract
//!
//! - [`Operation`] has a public `id` beside the fields the contract names, chosen at
//!   construction, so that a child can name its parent (and a parent cycle can be
//!   expressed, and refused); `max_retries` is an `Option` (`None` = the config's
//!   default).
//! - [`Coordinator::submit`] returns `Result<OpHandle<T>, SubmitError>`: a duplicate id
//!   or a parent cycle is refused there.
//! - An operation out of retries has status `Rejected` (reason `max retries (N)
//!   exceeded`, as the contract says) and outcome [`OpError::Failed`], which carries the
//!   last error; a preempted one has outcome [`OpError::Rejected`].

mod config;
mod coordinator;
mod error;
pub mod events;
mod handle;
mod health;
mod lineage;
mod metrics;
mod operation;
mod resolve;
mod runner;
mod scheduler;
mod shard;
mod slots;
mod state;

pub use config::Config;
pub use coordinator::Coordinator;
pub use error::{OpError, SubmitError, PREEMPTED};
pub use handle::OpHandle;
pub use health::{Health, HealthStatus};
pub use metrics::{Latency, Metrics};
pub use operation::{OpId, Operation, Status};
