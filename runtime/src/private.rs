//! Items used by the code `herald-macros` generates. Not public API: nothing here is
//! covered by semver, and the macros only name these paths through `::herald::__private`.

pub use ::core;
pub use ::inventory;
pub use ::serde;
pub use ::serde_json;
pub use ::std::boxed::Box;
pub use ::std::string::String;

pub use crate::core::subscription::{
    call_record, call_typed, finish_async, mismatch, when_record, when_typed, BoxFuture, EventKey,
    HandlerCall, HandlerDescriptor, HandlerInput, HandlerReturn, Outcome,
};
pub use crate::envelope::{Envelope, ErasedEnvelope, Record};
pub use crate::event::{Event, Kind, Phase, Query};
pub use crate::instrument::{
    run_async, run_sync, Args, Call, ErrorText, ErrorTextDebug, ErrorTextDisplay, ErrorTextOpaque,
    InstrumentedFuture, Site,
};
pub use crate::registry::{EventDescriptor, MigrateFn};
pub use crate::route_slot::RouteSlot;

/// Parses a duration literal at compile time (`"250ms"`, `"30s"`, `"5m"`, `"1h"`) into
/// nanoseconds. The macros validate the literal; this is the single definition of its
/// meaning, usable in constants.
pub const fn duration_from_nanos(nanos: u64) -> ::core::time::Duration {
    ::core::time::Duration::from_nanos(nanos)
}

/// The `Debug` text of a value (for `args` and `ret`).
pub fn debug_text<T: ?Sized + ::core::fmt::Debug>(value: &T) -> String {
    ::std::format!("{value:?}")
}

/// Calls `f` with `value`; lets a closure literal's parameter type be inferred from
/// the value (`completed = |v| ..`, `failed = |e| ..`).
#[inline]
pub fn call_with<A: ?Sized, R>(value: &A, f: impl FnOnce(&A) -> R) -> R {
    f(value)
}

/// The response type of an event: [`NoResponse`] unless it is a query. Implemented by
/// `#[derive(Event)]`; `#[on]` uses it to check what a query handler returns.
pub trait ResponseOf {
    /// `NoResponse`, or `Responds<R>` for a query answered by `R`.
    type Response;
}

/// The event is not a query.
pub struct NoResponse;

/// The event is a query answered by `R`.
pub struct Responds<R>(::core::marker::PhantomData<R>);

/// What a handler of an event with response `R` may return.
#[diagnostic::on_unimplemented(
    message = "a handler of this query must return its response type, not `{Self}`",
    label = "returns `{Self}`",
    note = "a query handler returns `R`, `Option<R>` or `Result<R, E>`, where `R` is the query's `response = ..` type"
)]
pub trait ReturnsFor<R> {}

impl<X: ?Sized> ReturnsFor<NoResponse> for X {}
impl<R: Event> ReturnsFor<Responds<R>> for R {}
impl<R: Event> ReturnsFor<Responds<R>> for ::core::option::Option<R> {}
impl<R: Event, E> ReturnsFor<Responds<R>> for ::core::result::Result<R, E> {}

/// Compiles only when `R` is an allowed return type of a handler of `T`.
pub const fn check_response<T: ResponseOf, R: ReturnsFor<T::Response>>() {}

/// A new record id and the wall-clock reading it is stamped with, made the way every
/// delivered emission makes them: the cost of one id, as herald's benchmarks state it.
#[inline(never)]
pub fn new_stamped_id() -> (::uuid::Uuid, ::std::time::SystemTime) {
    let stamp = crate::id::now();
    (crate::id::next_with_ms(stamp.millis()), stamp.system_time())
}
