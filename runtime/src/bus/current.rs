//! The current bus: the one [`with_bus`](crate::with_bus), [`scope`](crate::scope) or a
//! running handler installed, else the global one.

use super::global;
use crate::core::context::with_bus_or_installed;
use crate::core::Bus;

/// Runs `f` with the current bus (see [`current_bus`]).
#[inline]
pub(crate) fn with_current_bus<R>(f: impl FnOnce(&Bus) -> R) -> R {
    with_bus_or_current(None, f)
}

/// Runs `f` with `bus` when given, else with the current bus. `f` is called in one
/// place, so that it is inlined.
#[inline(always)]
pub(crate) fn with_bus_or_current<R>(bus: Option<&Bus>, f: impl FnOnce(&Bus) -> R) -> R {
    with_bus_or_installed(bus, |bus| f(bus.unwrap_or_else(|| global())))
}

/// The current bus: the one [`with_bus`](crate::with_bus), [`scope`](crate::scope) or a
/// running handler installed, else the global one. Handlers use it to make requests on
/// the bus that called them.
pub fn current_bus() -> Bus {
    with_current_bus(Bus::clone)
}
