//! Children scopes: [`Bus::children`] runs child futures concurrently under a parent
//! event, then closes the parent with [`Completed`] or [`Failed`];
//! [`Bus::scope_status`] and [`Bus::on_complete`] watch a scope.
//!
//! A scope's state lives in the bus while the scope is pending or running. When it
//! finishes, its callbacks run, the state is dropped and only its final [`ScopeStatus`]
//! is kept, in a ring of the last [`FINISHED_SCOPES`] finished scopes.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use tokio::task::AbortHandle;
use uuid::Uuid;

use crate::core::context;
use crate::core::{lock, Bus, EmitOptions};
use crate::envelope::Links;
use crate::error::BusError;
use crate::event::{Event, Phase};
use crate::id::{self, Stamp};
use crate::lifecycle::{Cancelled, Completed, Failed};
use crate::unwind::panic_text;

/// How many finished scopes [`Bus::scope_status`] and [`Bus::on_complete`] remember.
pub const FINISHED_SCOPES: usize = 1_024;

/// What a child future may return: `()` (a child that cannot fail) or `Result<T, E>`
/// with `E: Display` (`Err` fails the child, with the error's text).
///
/// Every child of one scope has the same success type: `()` children and
/// `Result<(), E>` children mix; `Result<T, E>` children share `T`.
pub trait ChildOutput: Send + 'static {
    /// The value of a successful child, collected by [`Children::join`].
    type Value: Send + 'static;

    /// The value, or the failure text. Not public API.
    #[doc(hidden)]
    fn __herald_child_result(self) -> Result<Self::Value, String>;
}

impl ChildOutput for () {
    type Value = ();

    fn __herald_child_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<T: Send + 'static, E: fmt::Display + Send + 'static> ChildOutput for Result<T, E> {
    type Value = T;

    fn __herald_child_result(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

type ChildFuture<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send>>;

/// One failed child of a scope.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChildFailure {
    /// Its position among the scope's children, in spawn order (from 0).
    pub index: usize,
    /// Its child id (see [`ScopeStatus::children`]).
    pub id: Uuid,
    /// The error's `Display` text, or `panicked: <message>` for a panic.
    pub error: String,
}

impl fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child {}: {}", self.index, self.error)
    }
}

/// Why [`Children::join`] failed: every failed child, in spawn order.
///
/// Its text is also the `error` of the parent's [`Failed`] record:
/// `2 of 3 children failed: child 0: out of stock; child 2: panicked: boom`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} of {total} children failed: {}", failures.len(), list(failures))]
#[non_exhaustive]
pub struct ChildrenError {
    /// The parent record's id.
    pub parent: Uuid,
    /// How many children the scope ran.
    pub total: usize,
    /// The failed children, in spawn order (never empty).
    pub failures: Vec<ChildFailure>,
}

fn list(failures: &[ChildFailure]) -> String {
    let texts: Vec<String> = failures.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// Where a children scope is, from [`Bus::scope_status`] and given to
/// [`Bus::on_complete`] callbacks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeStatus {
    /// The parent record's id (the scope's id).
    pub parent: Uuid,
    /// [`Phase::Pending`] until [`Children::join`] is first polled, [`Phase::Started`]
    /// while the children run, then [`Phase::Completed`], [`Phase::Failed`] or
    /// [`Phase::Cancelled`] (the join future or the builder was dropped first).
    pub phase: Phase,
    /// The child ids, in spawn order. A child id is generated for each spawned child
    /// and names it here and in [`ChildFailure`]; it is not a record id (the records
    /// a child emits are children of [`parent`](Self::parent)).
    pub children: Vec<Uuid>,
    /// Children that have not finished yet.
    pub pending: usize,
    /// The children that failed so far, in the order they finished (in spawn order
    /// once the scope has finished).
    pub failures: Vec<ChildFailure>,
    /// The id of the closing record (`Completed`, `Failed` or `Cancelled`) once the
    /// scope has finished; `None` before, or when it was never started.
    pub closing: Option<Uuid>,
}

impl ScopeStatus {
    /// How many children failed so far.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// Whether the scope has finished (completed, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        matches!(
            self.phase,
            Phase::Completed | Phase::Failed | Phase::Cancelled
        )
    }
}

type CompleteFn = Box<dyn FnOnce(&ScopeStatus) + Send>;

/// A pending or running scope: its status and the callbacks waiting for its end.
struct LiveScope {
    status: ScopeStatus,
    callbacks: Vec<CompleteFn>,
}

#[derive(Default)]
struct ScopeTable {
    live: HashMap<Uuid, LiveScope>,
    /// The last [`FINISHED_SCOPES`] finished scopes, oldest first.
    finished: VecDeque<ScopeStatus>,
}

/// Every pending or running scope of a bus, and the last finished ones.
#[derive(Default)]
pub(crate) struct Scopes {
    table: Mutex<ScopeTable>,
}

impl Scopes {
    fn register(&self, parent: Uuid) {
        let status = ScopeStatus {
            parent,
            phase: Phase::Pending,
            children: Vec::new(),
            pending: 0,
            failures: Vec::new(),
            closing: None,
        };
        lock(&self.table).live.insert(
            parent,
            LiveScope {
                status,
                callbacks: Vec::new(),
            },
        );
    }

    fn update(&self, parent: Uuid, f: impl FnOnce(&mut ScopeStatus)) {
        if let Some(scope) = lock(&self.table).live.get_mut(&parent) {
            f(&mut scope.status);
        }
    }

    fn status(&self, parent: Uuid) -> Option<ScopeStatus> {
        let table = lock(&self.table);
        match table.live.get(&parent) {
            Some(scope) => Some(scope.status.clone()),
            None => table
                .finished
                .iter()
                .rev()
                .find(|s| s.parent == parent)
                .cloned(),
        }
    }

    /// Registers `f`, or returns it with the final status when the scope has finished.
    fn on_complete(
        &self,
        parent: Uuid,
        f: CompleteFn,
    ) -> Result<Option<(CompleteFn, ScopeStatus)>, BusError> {
        let mut table = lock(&self.table);
        if let Some(scope) = table.live.get_mut(&parent) {
            scope.callbacks.push(f);
            return Ok(None);
        }
        match table.finished.iter().rev().find(|s| s.parent == parent) {
            Some(status) => Ok(Some((f, status.clone()))),
            None => Err(BusError::UnknownScope(parent)),
        }
    }

    /// Ends the scope with `status`: keeps it in the ring, drops its state and runs its
    /// callbacks (outside the lock).
    fn finish(&self, status: ScopeStatus) {
        let callbacks = {
            let mut table = lock(&self.table);
            let callbacks = table
                .live
                .remove(&status.parent)
                .map(|s| s.callbacks)
                .unwrap_or_default();
            if table.finished.len() == FINISHED_SCOPES {
                table.finished.pop_front();
            }
            table.finished.push_back(status.clone());
            callbacks
        };
        for f in callbacks {
            run_callback(f, &status);
        }
    }
}

/// Runs an `on_complete` callback; a panicking callback is ignored.
fn run_callback(f: CompleteFn, status: &ScopeStatus) {
    let _ = panic::catch_unwind(AssertUnwindSafe(|| f(status)));
}

/// Turns a panic inside a child into a failure with the panic message.
struct CatchPanic<T>(ChildFuture<T>);

impl<T> Future for CatchPanic<T> {
    type Output = Result<T, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match panic::catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(payload) => Poll::Ready(Err(panic_text(&*payload))),
        }
    }
}

struct Child<T> {
    id: Uuid,
    fut: ChildFuture<T>,
}

/// A children scope being built: [`Bus::children`], then [`spawn`](Self::spawn) (or
/// [`push`](Self::push)) per child, then [`join`](Self::join).
///
/// Children start when `join` is first polled, right after the parent record. Dropping
/// the builder without joining ends the scope as cancelled (its `on_complete`
/// callbacks run; no record was emitted).
#[must_use = "a children scope does nothing until `.join().await`"]
pub struct Children<E: Event, T> {
    bus: Bus,
    parent: E,
    children: Vec<Child<T>>,
    guard: ScopeGuard,
}

impl<E: Event, T: Send + 'static> Children<E, T> {
    /// The id the parent record gets: the scope's id, for [`Bus::scope_status`] and
    /// [`Bus::on_complete`].
    pub fn id(&self) -> Uuid {
        self.guard.parent
    }

    /// Adds a child; see [`ChildOutput`] for what it may return.
    pub fn spawn<F>(mut self, fut: F) -> Self
    where
        F: Future + Send + 'static,
        F::Output: ChildOutput<Value = T>,
    {
        self.push(fut);
        self
    }

    /// Adds a child and returns its child id (for adding children in a loop).
    pub fn push<F>(&mut self, fut: F) -> Uuid
    where
        F: Future + Send + 'static,
        F::Output: ChildOutput<Value = T>,
    {
        let child = id::next();
        self.children.push(Child {
            id: child,
            fut: Box::pin(async move { fut.await.__herald_child_result() }),
        });
        self.bus.services().scopes.update(self.guard.parent, |s| {
            s.children.push(child);
            s.pending += 1;
        });
        child
    }

    /// Emits the parent record (phase `Started`), runs every child concurrently under
    /// it, then emits the closing record and returns the children's values in spawn
    /// order, or every failure.
    ///
    /// The closing record is a [`Completed`] (`"{parent name}.completed"`) when every
    /// child succeeded, else a [`Failed`] (`"{parent name}.failed"`) whose error lists
    /// the failed children; it is caused by the parent and carries the scope's
    /// duration. A child that panics counts as failed with its panic message; the
    /// other children still run to the end. The `on_complete` callbacks have run when
    /// this returns.
    ///
    /// Dropping the future before it finishes aborts the children, emits a
    /// [`Cancelled`] closing record and ends the scope as cancelled.
    pub async fn join(self) -> Result<Vec<T>, ChildrenError> {
        let Children {
            bus,
            parent,
            children,
            mut guard,
        } = self;
        let id = guard.parent;
        let name = parent
            .__herald_record_name()
            .unwrap_or_else(|| E::NAME.to_owned());
        let own = context::current_links();
        let (root, correlation) = (own.root().unwrap_or(id), own.correlation().unwrap_or(id));
        let start = id::now();
        bus.dispatch(
            parent,
            EmitOptions {
                id: Some(id),
                links: Some(own),
                phase: Some(Phase::Started),
                now: Some(start),
                ..EmitOptions::default()
            },
            None,
        );
        // The parent's child links: what the children see as their context.
        let child_links = Links::new(Some(id), Some(root), Some(correlation), Some(id));
        let ids: Vec<Uuid> = children.iter().map(|c| c.id).collect();
        let total = children.len();
        bus.services()
            .scopes
            .update(id, |s| s.phase = Phase::Started);
        let mut tasks = Vec::with_capacity(total);
        for (index, child) in children.into_iter().enumerate() {
            let task_bus = bus.clone();
            let task = crate::core::spawn_task(async move {
                let result =
                    context::with_context(&task_bus, child_links, CatchPanic(child.fut)).await;
                if let Err(error) = &result {
                    let failure = ChildFailure {
                        index,
                        id: child.id,
                        error: error.clone(),
                    };
                    task_bus
                        .services()
                        .scopes
                        .update(id, |s| s.failures.push(failure));
                }
                task_bus.services().scopes.update(id, |s| s.pending -= 1);
                result
            });
            guard.tasks.push(task.abort_handle());
            tasks.push(task);
        }
        guard.opened = Some(Opened {
            name,
            links: Links::new(own.parent(), Some(root), Some(correlation), Some(id)),
            start,
        });

        let mut values = Vec::with_capacity(total);
        let mut failures = Vec::new();
        for (index, task) in tasks.into_iter().enumerate() {
            let error = match task.await {
                Ok(Ok(value)) => {
                    values.push(value);
                    continue;
                }
                Ok(Err(error)) => error,
                Err(e) if e.is_panic() => panic_text(&*e.into_panic()),
                Err(_) => "cancelled: its runtime shut down".to_owned(),
            };
            failures.push(ChildFailure {
                index,
                id: ids[index],
                error,
            });
        }
        if failures.is_empty() {
            guard.finish(&bus, Closing::Completed, ids, Vec::new());
            return Ok(values);
        }
        let error = ChildrenError {
            parent: id,
            total,
            failures,
        };
        guard.finish(
            &bus,
            Closing::Failed(error.to_string()),
            ids,
            error.failures.clone(),
        );
        Err(error)
    }
}

/// What a scope's parent is closed with.
enum Closing {
    Completed,
    Failed(String),
    Cancelled,
}

/// What the closing record needs once the parent has been emitted.
struct Opened {
    name: String,
    /// The closing record's links: the parent's place in the tree, caused by it.
    links: Links,
    start: Stamp,
}

/// Ends a scope exactly once: by [`Children::join`], or as cancelled when the builder or
/// the join future is dropped first (aborting the children it started).
struct ScopeGuard {
    bus: Option<Bus>,
    parent: Uuid,
    opened: Option<Opened>,
    tasks: Vec<AbortHandle>,
}

impl ScopeGuard {
    fn finish(
        &mut self,
        bus: &Bus,
        closing: Closing,
        children: Vec<Uuid>,
        failures: Vec<ChildFailure>,
    ) {
        self.bus = None;
        let phase = match closing {
            Closing::Completed => Phase::Completed,
            Closing::Failed(_) => Phase::Failed,
            Closing::Cancelled => Phase::Cancelled,
        };
        let closing_id = self.opened.take().map(|opened| {
            let now = id::now();
            let opts = EmitOptions {
                links: Some(opened.links),
                phase: Some(phase),
                duration: Some(now.since(opened.start)),
                now: Some(now),
                ..EmitOptions::default()
            };
            let operation = opened.name.into();
            match closing {
                Closing::Completed => bus.dispatch(
                    Completed {
                        operation,
                        result: None,
                    },
                    opts,
                    None,
                ),
                Closing::Failed(error) => bus.dispatch(Failed { operation, error }, opts, None),
                Closing::Cancelled => bus.dispatch(Cancelled { operation }, opts, None),
            }
        });
        bus.services().scopes.finish(ScopeStatus {
            parent: self.parent,
            phase,
            children,
            pending: 0,
            failures,
            closing: closing_id,
        });
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let Some(bus) = self.bus.take() else {
            return;
        };
        for task in &self.tasks {
            task.abort();
        }
        let (children, failures) = bus
            .services()
            .scopes
            .status(self.parent)
            .map(|s| (s.children, s.failures))
            .unwrap_or_default();
        self.finish(&bus, Closing::Cancelled, children, failures);
    }
}

impl<E: Event + fmt::Debug, T> fmt::Debug for Children<E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Children")
            .field("id", &self.guard.parent)
            .field("parent", &self.parent)
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// Starts a children scope under the parent event `parent`: add child futures with
    /// [`Children::spawn`], then [`Children::join`] emits `parent` (phase `Started`;
    /// its record name is the type's `NAME`), runs the children concurrently with the
    /// parent as their current parent (their emissions and instrumented calls nest
    /// under it), and closes it with `"{name}.completed"` or `"{name}.failed"`.
    ///
    /// While it runs, [`scope_status`](Bus::scope_status) shows its child ids and how
    /// many are pending; [`on_complete`](Bus::on_complete) runs a callback when it ends.
    /// Children run on the current tokio runtime (or herald's own outside one).
    ///
    /// ```
    /// use herald::prelude::*;
    /// use herald::{Bus, Phase};
    ///
    /// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
    /// #[event(name = "doc.checkout_scope")]
    /// struct Checkout { order: u64 }
    ///
    /// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
    /// #[event(name = "doc.checkout_step")]
    /// struct Step { what: String }
    ///
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let bus = Bus::builder().registered_handlers(false).build().unwrap();
    /// let scope = bus.children(Checkout { order: 7 });
    /// let parent = scope.id();
    /// let amounts = scope
    ///     .spawn(async {
    ///         herald::emit(Step { what: "payment".into() });
    ///         Ok::<u32, String>(40)
    ///     })
    ///     .spawn(async { Ok::<u32, String>(2) })
    ///     .join()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(amounts, [40, 2]);
    ///
    /// let history = bus.history();
    /// assert_eq!(history[0].name(), "doc.checkout_scope");
    /// assert_eq!(history[0].phase(), Phase::Started);
    /// assert_eq!(history[1].parent_id(), Some(parent)); // the step nests under the parent
    /// assert_eq!(history[2].name(), "doc.checkout_scope.completed");
    /// assert_eq!(bus.scope_status(parent).unwrap().phase, Phase::Completed);
    /// # });
    /// ```
    pub fn children<E: Event, T: Send + 'static>(&self, parent: E) -> Children<E, T> {
        let id = id::next();
        self.services().scopes.register(id);
        Children {
            bus: self.clone(),
            parent,
            children: Vec::new(),
            guard: ScopeGuard {
                bus: Some(self.clone()),
                parent: id,
                opened: None,
                tasks: Vec::new(),
            },
        }
    }

    /// The status of the children scope whose parent record is `parent_id`: its child
    /// ids, how many are pending and which failed. [`get`](Bus::get) returns the
    /// parent's record, which never changes; this is where its children are.
    ///
    /// `None` when no such scope is pending or running and it is not among the last
    /// [`FINISHED_SCOPES`] finished ones.
    pub fn scope_status(&self, parent_id: Uuid) -> Option<ScopeStatus> {
        self.services().scopes.status(parent_id)
    }

    /// Runs `f` exactly once when the scope whose parent record is `parent_id` ends
    /// (completed, failed or cancelled), with its final status: at once, here, when it
    /// has already ended; else on the task that joins it, after the closing record and
    /// before `join` returns. A panicking callback is ignored.
    ///
    /// Fails with [`BusError::UnknownScope`] when no such scope is pending or running
    /// and it is not among the last [`FINISHED_SCOPES`] finished ones.
    pub fn on_complete(
        &self,
        parent_id: Uuid,
        f: impl FnOnce(&ScopeStatus) + Send + 'static,
    ) -> Result<(), BusError> {
        if let Some((f, status)) = self.services().scopes.on_complete(parent_id, Box::new(f))? {
            run_callback(f, &status);
        }
        Ok(())
    }
}
