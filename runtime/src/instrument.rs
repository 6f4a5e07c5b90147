//! Run-time support for `#[instrument_events]`. Not public API: generated code calls it
//! through `herald::__private`.

use std::any::TypeId;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll};

use uuid::Uuid;

use crate::core::context;
use crate::core::{Bus, EmitOptions, Key, LifecycleAt};
use crate::envelope::{Links, Name};
use crate::event::{short_type_name, snake_case, Event, Phase};
use crate::lifecycle::{Cancelled, Completed, Failed, Started};
use crate::route_slot::RouteSlot;
use crate::unwind::panic_text;

/// One `#[instrument_events]` call site.
#[doc(hidden)]
pub struct Site {
    op: &'static str,
    method: bool,
    root: bool,
    names: OnceLock<SiteNames>,
    /// Which lifecycle records are wanted on the bus whose routing epoch is stored
    /// above the low four bits (0: nothing cached yet).
    wanted: AtomicU64,
}

const STARTED: u8 = 1;
const COMPLETED: u8 = 2;
const FAILED: u8 = 4;
const CANCELLED: u8 = 8;
const CLOSING: u8 = COMPLETED | FAILED | CANCELLED;

struct SiteNames {
    /// For method sites: the `type_name::<Self>()` the names were computed from.
    self_type: &'static str,
    op: Cow<'static, str>,
    started: Name,
    completed: Name,
    failed: Name,
    cancelled: Name,
    /// Routing slots of the four names (started, completed, failed, cancelled), when
    /// they are the site's own (not a blanket impl's, made per call).
    slots: Option<[RouteSlot; 4]>,
}

impl SiteNames {
    fn build(
        self_type: &'static str,
        op: Cow<'static, str>,
        name: impl Fn(String) -> Name,
        slots: Option<[RouteSlot; 4]>,
    ) -> SiteNames {
        SiteNames {
            slots,
            self_type,
            started: name(format!("{op}.started")),
            completed: name(format!("{op}.completed")),
            failed: name(format!("{op}.failed")),
            cancelled: name(format!("{op}.cancelled")),
            op,
        }
    }

    /// Names computed once per site and kept for the program's life (bounded by the
    /// number of call sites), so that emitting them never allocates.
    fn leaked(self_type: &'static str, op: &'static str) -> SiteNames {
        SiteNames::build(
            self_type,
            Cow::Borrowed(op),
            |n| Name::Static(Box::leak(n.into_boxed_str())),
            Some([const { RouteSlot::new() }; 4]),
        )
    }

    /// Names for one call (a blanket impl whose `Self` differs from the cached one).
    fn owned(self_type: &'static str, op: String) -> SiteNames {
        SiteNames::build(self_type, Cow::Owned(op), |n| Name::Shared(n.into()), None)
    }

    /// The routing slot of name `i` (0: started, 1: completed, 2: failed, 3: cancelled).
    fn slot(&self, i: usize) -> Option<&RouteSlot> {
        self.slots.as_ref().map(|s| &s[i])
    }

    /// Which of the four records `bus` wants.
    fn wanted_on(&self, bus: &Bus) -> u8 {
        let mut flags = 0;
        for (i, (flag, type_id, name)) in [
            (STARTED, TypeId::of::<Started>(), &self.started),
            (COMPLETED, TypeId::of::<Completed>(), &self.completed),
            (FAILED, TypeId::of::<Failed>(), &self.failed),
            (CANCELLED, TypeId::of::<Cancelled>(), &self.cancelled),
        ]
        .into_iter()
        .enumerate()
        {
            let key = Key {
                type_id,
                name,
                is_type_name: false,
                slot: None,
            }
            .with_slot(self.slot(i));
            if bus.route_key(&key).wanted() {
                flags |= flag;
            }
        }
        flags
    }
}

/// A site's names, borrowed for the program's life or owned by one call.
enum NamesRef {
    Static(&'static SiteNames),
    /// Dropped by `NamesRef`'s own `Drop`, out of line: calls of a site's own names
    /// (nearly all) drop nothing and should not call a function to find that out.
    Owned(std::mem::ManuallyDrop<Box<SiteNames>>),
}

impl Drop for NamesRef {
    #[inline(always)]
    fn drop(&mut self) {
        if let NamesRef::Owned(names) = self {
            // SAFETY: the names are taken once, here, and never used again.
            drop_names(unsafe { std::mem::ManuallyDrop::take(names) });
        }
    }
}

#[cold]
#[inline(never)]
fn drop_names(names: Box<SiteNames>) {
    drop(names);
}

impl NamesRef {
    /// The routing slot of name `i`, for the site's own names.
    fn slot(&self, i: usize) -> Option<&'static RouteSlot> {
        match self {
            NamesRef::Static(n) => n.slot(i),
            NamesRef::Owned(_) => None,
        }
    }
}

impl std::ops::Deref for NamesRef {
    type Target = SiteNames;

    fn deref(&self) -> &SiteNames {
        match self {
            NamesRef::Static(n) => n,
            NamesRef::Owned(n) => n,
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
            wanted: AtomicU64::new(0),
        }
    }

    /// A method site: the operation is `{type_snake}.{method}`, the type being `Self`.
    pub const fn method(method: &'static str, root: bool) -> Site {
        Site {
            op: method,
            method: true,
            root,
            names: OnceLock::new(),
            wanted: AtomicU64::new(0),
        }
    }

    fn method_op(&self, ty: &'static str) -> String {
        format!("{}.{}", snake_case(short_type_name(ty)), self.op)
    }

    /// The lifecycle names of this site for this call.
    #[inline]
    fn names(&'static self, self_type: fn() -> &'static str) -> NamesRef {
        match self.names.get() {
            Some(names) if !self.method || std::ptr::eq(names.self_type, self_type()) => {
                NamesRef::Static(names)
            }
            _ => self.names_slow(self_type),
        }
    }

    #[inline(never)]
    fn names_slow(&'static self, self_type: fn() -> &'static str) -> NamesRef {
        if !self.method {
            return NamesRef::Static(self.names.get_or_init(|| SiteNames::leaked("", self.op)));
        }
        let ty = self_type();
        let cached = self
            .names
            .get_or_init(|| SiteNames::leaked(ty, Box::leak(self.method_op(ty).into_boxed_str())));
        if std::ptr::eq(cached.self_type, ty) || cached.self_type == ty {
            NamesRef::Static(cached)
        } else {
            // A blanket impl: one site, several `Self` types.
            NamesRef::Owned(std::mem::ManuallyDrop::new(Box::new(SiteNames::owned(
                ty,
                self.method_op(ty),
            ))))
        }
    }

    /// Which lifecycle records `bus` wants from this site, cached per routing epoch.
    #[inline]
    fn wanted(&self, bus: &Bus, names: &NamesRef) -> u8 {
        if let NamesRef::Owned(n) = names {
            return n.wanted_on(bus);
        }
        let epoch = bus.epoch();
        let packed = self.wanted.load(Ordering::Relaxed);
        if packed >> 4 == epoch {
            return (packed & 0xf) as u8;
        }
        let flags = names.wanted_on(bus);
        self.wanted
            .store((epoch << 4) | u64::from(flags), Ordering::Relaxed);
        flags
    }
}

/// Where and when a call's started record is emitted.
struct StartedAt {
    links: Links,
    now: crate::id::Stamp,
}

impl StartedAt {
    /// Emits the default [`Started`] record with `args`.
    fn emit_default(
        self,
        bus: &Bus,
        names: &NamesRef,
        args: Vec<(Cow<'static, str>, String)>,
    ) -> Uuid {
        let ev = || Started {
            operation: names.op.clone(),
            args,
        };
        bus.emit_lifecycle(
            ev,
            &LifecycleAt {
                name: &names.started,
                slot: names.slot(0),
                links: self.links,
                phase: Phase::Started,
                now: self.now,
                duration: None,
            },
        )
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

/// The bus a call closes on.
enum CloseOn {
    /// The current bus when it closes: sync calls close where they began.
    Current,
    /// The bus current when the future was made (`None`: the global bus).
    Pinned(Option<Bus>),
}

struct CallState {
    /// The bus to close on.
    bus: CloseOn,
    names: NamesRef,
    wanted: u8,
    /// The links of the closing record: the started event's parent, root and
    /// correlation, caused by the started event.
    closing: Links,
    /// Wall-clock start, when a closing record is wanted (for its duration).
    start: Option<crate::id::Stamp>,
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
        Call::begin(site, self_type, false, |bus, names, at| {
            let mut recorded = Args::default();
            let args = match catch(|| args(&mut recorded)) {
                Some(()) => recorded.0,
                None => Vec::new(),
            };
            at.emit_default(bus, names, args)
        })
    }

    /// Starts a call with a custom started event; a panicking factory falls back to
    /// the default [`Started`].
    pub fn start_with<E: Event>(
        site: &'static Site,
        self_type: fn() -> &'static str,
        factory: impl FnOnce() -> E,
    ) -> Call {
        Call::begin(site, self_type, true, |bus, names, at| {
            match catch(factory) {
                Some(ev) => bus.dispatch(
                    ev,
                    EmitOptions {
                        links: Some(at.links),
                        phase: Some(Phase::Started),
                        now: Some(at.now),
                        ..EmitOptions::default()
                    },
                    None,
                ),
                None => at.emit_default(bus, names, Vec::new()),
            }
        })
    }

    fn begin(
        site: &'static Site,
        self_type: fn() -> &'static str,
        custom: bool,
        emit_started: impl FnOnce(&Bus, &NamesRef, StartedAt) -> Uuid,
    ) -> Call {
        crate::bus::with_current_bus(|bus| {
            if bus.is_disabled() {
                return Call { state: None };
            }
            let names = site.names(self_type);
            let wanted = site.wanted(bus, &names);
            let current = context::current_links();
            let links = if site.root {
                current.detached()
            } else {
                current
            };
            let emit = custom || wanted & STARTED != 0;
            let now = (emit || wanted & CLOSING != 0).then(crate::id::now);
            let started_id = if let (true, Some(now)) = (emit, now) {
                emit_started(bus, &names, StartedAt { links, now })
            } else {
                // Nobody records the started event, so its id only names the parent of
                // what happens inside: it needs no clock read of its own.
                crate::id::next_unkept()
            };
            let closing = links.closing(started_id);
            Call {
                state: Some(CallState {
                    bus: CloseOn::Current,
                    start: now.filter(|_| wanted & CLOSING != 0),
                    names,
                    wanted,
                    closing,
                }),
            }
        })
    }

    /// Makes the call close on the bus current now, wherever it is polled later.
    fn pin_bus(&mut self) {
        if let Some(state) = &mut self.state {
            state.bus = CloseOn::Pinned(context::current_bus_override());
        }
    }

    /// The links of everything that happens inside the call.
    fn inner_links(&self) -> Option<Links> {
        self.state.as_ref().map(|s| s.closing.inside_closed())
    }

    #[inline(always)]
    fn close<E: Event>(
        mut self,
        phase: Phase,
        lifecycle: Option<Lifecycle>,
        ev: impl FnOnce(&SiteNames) -> E,
    ) {
        if let Some(state) = &self.state {
            // Default lifecycle records nobody takes cost nothing more.
            if lifecycle.is_none() || state.wanted & CLOSING != 0 {
                state.close(phase, lifecycle, ev);
            }
            self.state = None;
        }
    }

    /// Emits the default [`Completed`]; `result` gives the recorded return value.
    #[inline]
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
            if let Some(state) = &self.state {
                state.close(Phase::Completed, None, |_| ev);
                self.state = None;
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
            if let Some(state) = &self.state {
                state.close(Phase::Failed, None, |_| ev);
                self.state = None;
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
    #[inline(never)]
    fn close<E: Event>(
        &self,
        phase: Phase,
        lifecycle: Option<Lifecycle>,
        ev: impl FnOnce(&SiteNames) -> E,
    ) {
        let names = &*self.names;
        let (name, slot) = match lifecycle {
            Some(Lifecycle::Completed) if self.wanted & COMPLETED != 0 => (&names.completed, 1),
            Some(Lifecycle::Failed) if self.wanted & FAILED != 0 => (&names.failed, 2),
            Some(Lifecycle::Cancelled) if self.wanted & CANCELLED != 0 => (&names.cancelled, 3),
            // Nobody takes this lifecycle record.
            Some(_) => return,
            None => (&names.completed, 0),
        };
        let name = lifecycle.map(|_| name);
        let now = crate::id::now();
        let duration = self.start.map(|s| now.since(s));
        let emit = |bus: &Bus| match name {
            Some(name) => bus.emit_lifecycle(
                || ev(names),
                &LifecycleAt {
                    name,
                    slot: self.names.slot(slot),
                    links: self.closing,
                    phase,
                    now,
                    duration,
                },
            ),
            // A custom event: routed by its own type.
            None => bus.dispatch_with(
                ev(names),
                &mut EmitOptions {
                    links: Some(self.closing),
                    phase: Some(phase),
                    duration,
                    now: Some(now),
                    ..EmitOptions::default()
                },
            ),
        };
        let pinned = match &self.bus {
            CloseOn::Current => None,
            CloseOn::Pinned(Some(bus)) => Some(bus),
            CloseOn::Pinned(None) => Some(crate::bus::global()),
        };
        crate::bus::with_bus_or_current(pinned, emit);
    }
}

impl Drop for Call {
    #[inline]
    fn drop(&mut self) {
        if let Some(state) = &self.state {
            if state.wanted & CANCELLED != 0 {
                state.cancelled();
            }
        }
    }
}

impl CallState {
    #[cold]
    #[inline(never)]
    fn cancelled(&self) {
        self.close(Phase::Cancelled, Some(Lifecycle::Cancelled), |n| {
            Cancelled {
                operation: n.op.clone(),
            }
        });
    }
}

/// Runs a sync body inside `call`, then `finish` with its value; a panic emits
/// [`Failed`] and continues unwinding.
#[doc(hidden)]
#[inline]
pub fn run_sync<R, B: FnOnce() -> R, Fin: FnOnce(Call, &R)>(call: Call, body: B, finish: Fin) -> R {
    let result = {
        let links = call.inner_links();
        let _links = links.as_ref().map(context::enter);
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
    mut call: Call,
    body: F,
    finish: Fin,
) -> InstrumentedFuture<F, Fin> {
    call.pin_bus();
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
            let _links = this.links.as_ref().map(context::enter);
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
