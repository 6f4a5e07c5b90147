//! The nesting context: which event is the current parent, and which bus is current.
//!
//! Both live in thread-locals. Sync code sees them for the extent of a call; futures
//! carry them in a wrapper that installs them for each poll and restores the previous
//! values afterwards (also when the poll panics), so interleaved tasks on one thread
//! never see each other's parents.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use uuid::Uuid;

use crate::core::Bus;
use crate::envelope::Links;

/// The thread's context: the current links and the current bus (one thread-local, so
/// that a handler's context is installed and restored with one access).
///
/// Both are pointers to values owned by the guards' callers (a stack frame, a pinned
/// future), so entering and leaving a context moves two pointers, not the links.
struct ThreadContext {
    links: Cell<*const Links>,
    bus: Cell<*const Bus>,
}

thread_local! {
    static CONTEXT: ThreadContext = const {
        ThreadContext {
            links: Cell::new(std::ptr::null()),
            bus: Cell::new(std::ptr::null()),
        }
    };
}

/// The links a record emitted here and now gets.
#[inline]
pub(crate) fn current_links() -> Links {
    let ptr = CONTEXT.with(|c| c.links.get());
    if ptr.is_null() {
        Links::EMPTY
    } else {
        // SAFETY: a non-null pointer was installed by `enter` or `enter_handler` from a
        // `&Links` that outlives the guard, and the guard puts the previous pointer
        // back when it drops (also when unwinding); guards are only held as locals in
        // this crate, never leaked.
        unsafe { *ptr }
    }
}

/// Restores the previous links when dropped.
pub(crate) struct LinksGuard<'a> {
    previous: *const Links,
    _links: PhantomData<&'a Links>,
}

impl Drop for LinksGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        CONTEXT.with(|c| c.links.set(self.previous));
    }
}

/// Makes `links` current until the guard drops.
#[inline]
pub(crate) fn enter(links: &Links) -> LinksGuard<'_> {
    LinksGuard {
        previous: CONTEXT.with(|c| c.links.replace(links)),
        _links: PhantomData,
    }
}

/// Restores the previous current bus when dropped.
pub(crate) struct BusGuard<'a> {
    previous: *const Bus,
    _bus: PhantomData<&'a Bus>,
}

impl Drop for BusGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        CONTEXT.with(|c| c.bus.set(self.previous));
    }
}

/// Makes `bus` current until the guard drops. The guard borrows `bus`, so the pointer
/// stored in the thread-local is valid for as long as it is installed.
#[inline]
pub(crate) fn enter_bus(bus: &Bus) -> BusGuard<'_> {
    BusGuard {
        previous: CONTEXT.with(|c| c.bus.replace(std::ptr::from_ref(bus))),
        _bus: PhantomData,
    }
}

/// Restores the previous bus and links when dropped (see [`enter_handler`]).
pub(crate) struct HandlerGuard<'a> {
    links: *const Links,
    bus: *const Bus,
    _borrows: PhantomData<(&'a Bus, &'a Links)>,
}

impl Drop for HandlerGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        CONTEXT.with(|c| {
            c.links.set(self.links);
            c.bus.set(self.bus);
        });
    }
}

/// [`enter_bus`] and [`enter`] at once: the context handlers run in.
#[inline]
pub(crate) fn enter_handler<'a>(bus: &'a Bus, links: &'a Links) -> HandlerGuard<'a> {
    CONTEXT.with(|c| HandlerGuard {
        links: c.links.replace(links),
        bus: c.bus.replace(std::ptr::from_ref(bus)),
        _borrows: PhantomData,
    })
}

/// Runs `f` with `bus` when given, else with the bus installed on this thread by
/// [`with_bus`], [`scope`] or a running handler (`None` outside all of them: the bus's
/// facade falls back to the global bus). `f` is called in one place, so that it is
/// inlined.
#[inline(always)]
pub(crate) fn with_bus_or_installed<R>(bus: Option<&Bus>, f: impl FnOnce(Option<&Bus>) -> R) -> R {
    let bus = match bus {
        Some(bus) => Some(bus),
        None => {
            let ptr = CONTEXT.with(|c| c.bus.get());
            // SAFETY: a non-null pointer was installed by `enter_bus` or `enter_handler`
            // from a `&Bus` whose borrow outlives the guard, and the guard restores the
            // previous value when it drops; guards are never leaked (they are only held
            // as locals in this crate).
            (!ptr.is_null()).then(|| unsafe { &*ptr })
        }
    };
    f(bus)
}

/// A clone of the bus installed here, or `None` outside [`with_bus`], [`scope`] and
/// handlers (where the global bus is current).
pub(crate) fn current_bus_override() -> Option<Bus> {
    with_bus_or_installed(None, |bus| bus.cloned())
}

/// The current parent: the started event of the innermost instrumented call running
/// here (or the parent that a future carries with [`InCurrentContext`]).
///
/// ```
/// use herald::prelude::*;
///
/// #[instrument_events]
/// fn inner() -> Option<herald::Uuid> {
///     herald::current()
/// }
///
/// assert!(herald::current().is_none());
/// assert!(inner().is_some());
/// ```
pub fn current() -> Option<Uuid> {
    current_links().parent()
}

/// Runs `f` with `bus` as the current bus: `herald::emit` and instrumented code inside
/// send to it (like `tracing::subscriber::with_default`).
///
/// ```
/// use herald::prelude::*;
///
/// #[derive(serde::Serialize, serde::Deserialize, Event)]
/// #[event(name = "doc.tick")]
/// struct Tick;
///
/// let bus = herald::Bus::builder().registered_handlers(false).build().unwrap();
/// herald::with_bus(&bus, || herald::emit(Tick));
/// assert_eq!(bus.history().len(), 1);
/// ```
pub fn with_bus<R>(bus: &Bus, f: impl FnOnce() -> R) -> R {
    let _guard = enter_bus(bus);
    f()
}

/// Runs `fut` with `bus` as the current bus for every poll (the async [`with_bus`]).
pub fn scope<F: Future>(bus: &Bus, fut: F) -> WithContext<F> {
    WithContext {
        bus: Some(bus.clone()),
        links: None,
        inner: fut,
    }
}

/// Runs `fut` with `bus` current and `links` as its nesting context.
pub(crate) fn with_context<F: Future>(bus: &Bus, links: Links, fut: F) -> WithContext<F> {
    WithContext {
        bus: Some(bus.clone()),
        links: Some(links),
        inner: fut,
    }
}

/// `tokio::spawn(fut.in_current_context())`: the task keeps the current bus and parent.
///
/// A plain `tokio::spawn` carries neither. Must be called inside a tokio runtime.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(fut.in_current_context())
}

/// Carries the current bus and parent into a future, like tracing's `in_current_span`.
pub trait InCurrentContext: Future + Sized {
    /// Wraps the future so that every poll sees the bus and parent current now.
    ///
    /// ```
    /// use herald::prelude::*;
    ///
    /// #[instrument_events]
    /// fn outer() -> impl std::future::Future<Output = Option<herald::Uuid>> {
    ///     let expected = herald::current();
    ///     async move {
    ///         assert_eq!(herald::current(), expected);
    ///         herald::current()
    ///     }
    ///     .in_current_context()
    /// }
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert!(rt.block_on(outer()).is_some());
    /// ```
    fn in_current_context(self) -> WithContext<Self> {
        WithContext {
            bus: current_bus_override(),
            links: Some(current_links()),
            inner: self,
        }
    }
}

impl<F: Future> InCurrentContext for F {}

/// A future that runs with a given bus and parent; see [`InCurrentContext`] and [`scope`].
#[must_use = "futures do nothing unless polled"]
pub struct WithContext<F> {
    bus: Option<Bus>,
    links: Option<Links>,
    inner: F,
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self`, and
        // `WithContext` has no `Drop` impl and is `Unpin` only when `F` is.
        let this = unsafe { self.get_unchecked_mut() };
        let _bus = this.bus.as_ref().map(enter_bus);
        let _links = this.links.as_ref().map(enter);
        // SAFETY: see above; `this.inner` stays where it is.
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}
