//! Route slots: a dense index per routing key known at compile time, handed out on
//! first use. Plain data, so that the event model can name it without knowing routing.

use std::sync::atomic::{AtomicU32, Ordering};

/// Route slots beyond this many are not handed out (those keys route by hash).
const MAX_SLOTS: u32 = 1 << 16;

/// A dense index for one routing key known at compile time: an event type under its
/// own name (`#[derive(Event)]` gives each non-generic type one), or one lifecycle name
/// of an `#[instrument_events]` call site. Routing tables keep the routes of these keys
/// in a vector, so finding one is an index, not a hash lookup.
///
/// Not public API: generated code names it through `herald::__private`.
#[doc(hidden)]
pub struct RouteSlot(AtomicU32);

/// A [`RouteSlot`] value: not assigned yet.
const UNASSIGNED: u32 = 0;
/// A [`RouteSlot`] value: never assigned (generic types, slots exhausted).
const NEVER: u32 = u32::MAX;

static NO_SLOT: RouteSlot = RouteSlot(AtomicU32::new(NEVER));

impl RouteSlot {
    /// A slot, assigned on first use.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> RouteSlot {
        RouteSlot(AtomicU32::new(UNASSIGNED))
    }

    /// The slot of keys that have none (they route by hash).
    pub fn none() -> &'static RouteSlot {
        &NO_SLOT
    }

    /// The slot's index, assigning one the first time.
    #[inline(always)]
    pub(crate) fn index(&self) -> Option<usize> {
        match self.0.load(Ordering::Relaxed) {
            UNASSIGNED => self.assign(),
            NEVER => None,
            v => Some(v as usize - 1),
        }
    }

    #[cold]
    fn assign(&self) -> Option<usize> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let mine = NEXT
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n <= MAX_SLOTS).then_some(n + 1)
            })
            .unwrap_or(NEVER);
        match self
            .0
            .compare_exchange(UNASSIGNED, mine, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) if mine == NEVER => None,
            Ok(_) => Some(mine as usize - 1),
            // Another thread assigned it first (the number taken here stays unused).
            Err(NEVER) => None,
            Err(v) => Some(v as usize - 1),
        }
    }
}
