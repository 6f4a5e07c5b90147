//! Run-time support for `#[instrument_events]`. Not public API: generated code calls it
//! through `herald::__private`.

use std::any::TypeId;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use uuid::Uuid;

use crate::bus::{Bus, EmitOptions, Route};
use crate::context;
use crate::envelope::{Links, Name};
use crate::event::{short_type_name, snake_case, Event, Phase};
use crate::lifecycle::{Cancelled, Completed, Failed, Started};

/// One `#[instrument_events]` call site.
#[doc(hidden)]
pub struct Site {
    op: &'static str,
    method: bool,
    root: bool,
    names: OnceLock<Arc<SiteNames>>,
    routes: ArcSwapOption<SiteRoutes>,
}

/// The routes of a site's four lifecycle records on one routing table.
struct SiteRoutes {
    epoch: u64,
    names: Arc<SiteNames>,
    started: Arc<Route>,
    completed: Arc<Route>,
    failed: Arc<Route>,
    cancelled: Arc<Route>,
    /// Whether any closing record is wanted (then the call is timed).
    timed: bool,
}

impl SiteRoutes {
    fn new(bus: &Bus, epoch: u64, names: Arc<SiteNames>) -> SiteRoutes {
        let started = bus.route(TypeId::of::<Started>(), &names.started);
        let completed = bus.route(TypeId::of::<Completed>(), &names.completed);
        let failed = bus.route(TypeId::of::<Failed>(), &names.failed);
        let cancelled = bus.route(TypeId::of::<Cancelled>(), &names.cancelled);
        SiteRoutes {
            epoch,
            timed: completed.wanted() || failed.wanted() || cancelled.wanted(),
            names,
            started,
            completed,
            failed,
            cancelled,
        }
    }
}

struct SiteNames {
    /// For method sites: the `type_name::<Self>()` the names were computed from.
    self_type: &'static str,
    op: Cow<'static, str>,
    started: Name,
    completed: Name,
    failed: Name,
    cancelled: Name,
}

impl SiteNames {
    fn new(self_type: &'static str, op: Cow<'static, str>) -> SiteNames {
        let name = |suffix: &str| Name::Shared(format!("{op}.{suffix}").into());
        SiteNames {
            self_type,
            started: name("started"),
            completed: name("completed"),
            failed: name("failed"),
            cancelled: name("cancelled"),
            op,
        }
    }
}

impl Site {
    /// A site whose operation name is `op`.
    pub const fn new(op: &'static str, root: bool) -> Site {
        Site {
            op,
            method: false,
            root,
            names: OnceLock::new(),
            routes: ArcSwapOption::const_empty(),
        }
    }

    /// A method site: the operation is `{type_snake}.{method}`, the type being `Self`.
    pub const fn method(method: &'static str, root: bool) -> Site {
        Site {
            op: method,
            method: true,
            root,
            names: OnceLock::new(),
            routes: ArcSwapOption::const_empty(),
        }
    }

    /// The lifecycle names of this site; `None` when `Self` differs from the cached
    /// one (a blanket impl: one site, several types), with names computed afresh.
    fn names(
        &'static self,
        self_type: fn() -> &'static str,
    ) -> Result<&'static Arc<SiteNames>, Arc<SiteNames>> {
        if !self.method {
            return Ok(self
                .names
                .get_or_init(|| Arc::new(SiteNames::new("", Cow::Borrowed(self.op)))));
        }
        let ty = self_type();
        let compute = || {
            let op = format!("{}.{}", snake_case(short_type_name(ty)), self.op);
            Arc::new(SiteNames::new(ty, Cow::Owned(op)))
        };
        let cached = self.names.get_or_init(compute);
        if cached.self_type == ty {
            Ok(cached)
        } else {
            Err(compute())
        }
    }

    /// The routes of this site on `bus`, cached per routing-table epoch.
    fn routes(&'static self, bus: &Bus, self_type: fn() -> &'static str) -> Arc<SiteRoutes> {
        let epoch = bus.epoch();
        match self.names(self_type) {
            Ok(names) => {
                if let Some(cached) = &*self.routes.load() {
                    if cached.epoch == epoch && Arc::ptr_eq(&cached.names, names) {
                        return Arc::clone(cached);
                    }
                }
                let fresh = Arc::new(SiteRoutes::new(bus, epoch, names.clone()));
                self.routes.store(Some(fresh.clone()));
                fresh
            }
            Err(names) => Arc::new(SiteRoutes::new(bus, epoch, names)),
        }
    }
}

/// Arguments recorded in a [`Started`] event.
#[doc(hidden)]
#[derive(Default)]
pub struct Args(Vec<(Cow<'static, str>, String)>);

impl Args {
    /// Records `value` under `name` with its `Debug` text.
    pub fn push(&mut self, name: &'static str, value: &dyn fmt::Debug) {
        self.0.push((Cow::Borrowed(name), format!("{value:?}")));
    }
}

/// An instrumented call in progress.
#[doc(hidden)]
pub struct Call {
    state: Option<CallState>,
}

struct CallState {
    bus: Option<Bus>,
    routes: Arc<SiteRoutes>,
    started_id: Uuid,
    /// Links of the started event (and of its closing event).
    links: Links,
    start: Option<Instant>,
}

fn catch<R>(f: impl FnOnce() -> R) -> Option<R> {
    panic::catch_unwind(AssertUnwindSafe(f)).ok()
}

impl Call {
    /// Starts a call: emits the default [`Started`] (with the arguments `args` records).
    pub fn start(
        site: &'static Site,
        self_type: fn() -> &'static str,
        args: impl FnOnce(&mut Args),
    ) -> Call {
        Call::begin(site, self_type, false, |bus, names, opts, route| {
            let mut recorded = Args::default();
            let args = match catch(|| args(&mut recorded)) {
                Some(()) => recorded.0,
                None => Vec::new(),
            };
            let ev = Started {
                operation: names.op.clone(),
                args,
            };
            bus.dispatch(ev, opts, Some(route))
        })
    }

    /// Starts a call with a custom started event; a panicking factory falls back to
    /// the default [`Started`].
    pub fn start_with<E: Event>(
        site: &'static Site,
        self_type: fn() -> &'static str,
        factory: impl FnOnce() -> E,
    ) -> Call {
        Call::begin(
            site,
            self_type,
            true,
            |bus, names, mut opts, route| match catch(factory) {
                Some(ev) => {
                    opts.name = None;
                    bus.dispatch(ev, opts, None)
                }
                None => bus.dispatch(
                    Started {
                        operation: names.op.clone(),
                        args: Vec::new(),
                    },
                    opts,
                    Some(route),
                ),
            },
        )
    }

    fn begin(
        site: &'static Site,
        self_type: fn() -> &'static str,
        custom: bool,
        emit_started: impl FnOnce(&Bus, &SiteNames, EmitOptions, &Route) -> Uuid,
    ) -> Call {
        context::with_current_bus(|bus| {
            if bus.is_disabled() {
                return Call { state: None };
            }
            let routes = site.routes(bus, self_type);
            let current = context::current_links();
            let links = if site.root {
                Links::new(None, None, current.correlation(), current.causation())
            } else {
                current
            };
            let started_id = if custom || routes.started.wanted() {
                let opts = EmitOptions {
                    name: Some(routes.names.started.clone()),
                    links: Some(links),
                    phase: Some(Phase::Started),
                    ..EmitOptions::default()
                };
                emit_started(bus, &routes.names, opts, &routes.started)
            } else {
                crate::id::next()
            };
            let links = Links::new(
                links.parent(),
                Some(links.root().unwrap_or(started_id)),
                Some(links.correlation().unwrap_or(started_id)),
                links.causation(),
            );
            Call {
                state: Some(CallState {
                    bus: context::current_bus_override(),
                    start: routes.timed.then(Instant::now),
                    routes,
                    started_id,
                    links,
                }),
            }
        })
    }

    /// The links of everything that happens inside the call.
    fn inner_links(&self) -> Option<Links> {
        self.state.as_ref().map(|s| {
            Links::new(
                Some(s.started_id),
                s.links.root(),
                s.links.correlation(),
                None,
            )
        })
    }

    fn close<E: Event>(
        mut self,
        phase: Phase,
        lifecycle: Option<Lifecycle>,
        ev: impl FnOnce(&SiteNames) -> E,
    ) {
        if let Some(state) = self.state.take() {
            state.close(phase, lifecycle, ev);
        }
    }

    /// Emits the default [`Completed`]; `result` gives the recorded return value.
    pub fn completed(self, result: impl FnOnce() -> Option<String>) {
        self.close(Phase::Completed, Some(Lifecycle::Completed), |n| {
            Completed {
                operation: n.op.clone(),
                result: catch(result).flatten(),
            }
        });
    }

    /// Emits a custom completed event; a panicking factory falls back to [`Completed`].
    pub fn completed_with<E: Event>(mut self, factory: impl FnOnce() -> E) {
        if let Some(ev) = catch(factory) {
            if let Some(state) = self.state.take() {
                state.close(Phase::Completed, None, |_| ev);
            }
        } else {
            self.completed(|| None);
        }
    }

    /// Emits the default [`Failed`] with the error text `error` gives.
    pub fn failed(self, error: impl FnOnce() -> String) {
        self.close(Phase::Failed, Some(Lifecycle::Failed), |n| Failed {
            operation: n.op.clone(),
            error: catch(error).unwrap_or_else(|| "<error text panicked>".to_owned()),
        });
    }

    /// Emits a custom failed event; a panicking factory falls back to [`Failed`].
    pub fn failed_with<E: Event>(
        mut self,
        error: impl FnOnce() -> String,
        factory: impl FnOnce() -> E,
    ) {
        if let Some(ev) = catch(factory) {
            if let Some(state) = self.state.take() {
                state.close(Phase::Failed, None, |_| ev);
            }
        } else {
            self.failed(error);
        }
    }
}

/// Which default lifecycle record a close emits (custom events have their own route).
#[derive(Clone, Copy)]
enum Lifecycle {
    Completed,
    Failed,
    Cancelled,
}

impl CallState {
    fn close<E: Event>(
        self,
        phase: Phase,
        lifecycle: Option<Lifecycle>,
        ev: impl FnOnce(&SiteNames) -> E,
    ) {
        let routes = &*self.routes;
        let (name, route) = match lifecycle {
            Some(Lifecycle::Completed) => (
                Some(routes.names.completed.clone()),
                Some(&*routes.completed),
            ),
            Some(Lifecycle::Failed) => (Some(routes.names.failed.clone()), Some(&*routes.failed)),
            Some(Lifecycle::Cancelled) => (
                Some(routes.names.cancelled.clone()),
                Some(&*routes.cancelled),
            ),
            None => (None, None),
        };
        if route.is_some_and(|r| !r.wanted()) {
            return;
        }
        let opts = EmitOptions {
            name,
            links: Some(self.links.caused_by(Some(self.started_id))),
            phase: Some(phase),
            duration: self.start.map(|s| s.elapsed()),
            ..EmitOptions::default()
        };
        let payload = ev(&routes.names);
        match &self.bus {
            Some(bus) => bus.dispatch(payload, opts, route),
            None => crate::bus::global().dispatch(payload, opts, route),
        };
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            state.close(Phase::Cancelled, Some(Lifecycle::Cancelled), |n| {
                Cancelled {
                    operation: n.op.clone(),
                }
            });
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    format!("panicked: {msg}")
}

/// Runs a sync body inside `call`, then `finish` with its value; a panic emits
/// [`Failed`] and continues unwinding.
#[doc(hidden)]
#[inline]
pub fn run_sync<R, B: FnOnce() -> R, Fin: FnOnce(Call, &R)>(call: Call, body: B, finish: Fin) -> R {
    let result = {
        let _links = call.inner_links().map(context::enter);
        panic::catch_unwind(AssertUnwindSafe(body))
    };
    match result {
        Ok(value) => {
            finish(call, &value);
            value
        }
        Err(payload) => {
            call.failed(|| panic_text(&*payload));
            panic::resume_unwind(payload)
        }
    }
}

/// Wraps an async body: each poll runs inside the call's context; completion calls
/// `finish`; a panic emits [`Failed`]; dropping it unfinished emits [`Cancelled`].
#[doc(hidden)]
pub fn run_async<F: Future, Fin: FnOnce(Call, &F::Output)>(
    call: Call,
    body: F,
    finish: Fin,
) -> InstrumentedFuture<F, Fin> {
    InstrumentedFuture {
        links: call.inner_links(),
        call: Some(call),
        finish: Some(finish),
        inner: body,
    }
}

/// See [`run_async`].
#[doc(hidden)]
#[must_use = "futures do nothing unless polled"]
pub struct InstrumentedFuture<F, Fin> {
    links: Option<Links>,
    call: Option<Call>,
    finish: Option<Fin>,
    inner: F,
}

impl<F: Future, Fin: FnOnce(Call, &F::Output)> Future for InstrumentedFuture<F, Fin> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned (never moved out; the `Drop` impl only
        // touches `call`); the other fields are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let polled = {
            let _links = this.links.map(context::enter);
            // SAFETY: see above.
            let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
            panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx)))
        };
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => {
                if let (Some(call), Some(finish)) = (this.call.take(), this.finish.take()) {
                    finish(call, &value);
                }
                Poll::Ready(value)
            }
            Err(payload) => {
                if let Some(call) = this.call.take() {
                    call.failed(|| panic_text(&*payload));
                }
                panic::resume_unwind(payload)
            }
        }
    }
}

/// Autoref probes for the text of an error: `Display`, else `Debug`, else a
/// placeholder. Generated code calls `(&&&ErrorText(e)).__herald_error_text()` with the
/// three traits in scope.
#[doc(hidden)]
pub struct ErrorText<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub trait ErrorTextDisplay {
    fn __herald_error_text(&self) -> String;
}
#[doc(hidden)]
pub trait ErrorTextDebug {
    fn __herald_error_text(&self) -> String;
}
#[doc(hidden)]
pub trait ErrorTextOpaque {
    fn __herald_error_text(&self) -> String;
}

impl<T: fmt::Display + ?Sized> ErrorTextDisplay for &&ErrorText<'_, T> {
    fn __herald_error_text(&self) -> String {
        self.0.to_string()
    }
}
impl<T: fmt::Debug + ?Sized> ErrorTextDebug for &ErrorText<'_, T> {
    fn __herald_error_text(&self) -> String {
        format!("{:?}", self.0)
    }
}
impl<T: ?Sized> ErrorTextOpaque for ErrorText<'_, T> {
    fn __herald_error_text(&self) -> String {
        format!("error of type `{}`", std::any::type_name::<T>())
    }
}
