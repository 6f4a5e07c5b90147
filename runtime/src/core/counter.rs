//! [`Counter`]: a counter that threads increment without sharing a cache line, and the
//! per-thread shards it is split into.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Shards owned by one thread each; one more is shared by the threads beyond them.
const SHARDS: usize = 16;

#[repr(align(64))]
#[derive(Default)]
struct Padded(AtomicU64);

/// A counter that threads increment without sharing a cache line: each thread adds to
/// its own shard, and reading sums them.
///
/// A thread owns its shard alone while it lives (see [`shard`]), so it increments with
/// a plain load and store, not a locked read-modify-write. Threads beyond the number of
/// shards share one with atomic adds.
#[derive(Default)]
pub(crate) struct Counter {
    shards: [Padded; SHARDS + 1],
}

/// The shard of threads that own none: incremented with atomic adds only.
pub(crate) const SHARED: usize = SHARDS;

/// Which shards a living thread owns.
static OWNED: [std::sync::atomic::AtomicBool; SHARDS] =
    [const { std::sync::atomic::AtomicBool::new(false) }; SHARDS];

/// Claims a shard for the calling thread alone ([`SHARED`] when all are taken); the
/// thread gives it back with [`release_shard`] when it exits.
pub(crate) fn claim_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let start = NEXT.fetch_add(1, Ordering::Relaxed);
    (0..SHARDS)
        .map(|i| (start + i) % SHARDS)
        .find(|&s| {
            OWNED[s]
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })
        .unwrap_or(SHARED)
}

/// Gives back a shard claimed with [`claim_shard`].
pub(crate) fn release_shard(shard: usize) {
    if shard < SHARED {
        // Release: this thread's last plain stores happen before the next owner's.
        OWNED[shard].store(false, Ordering::Release);
    }
}

/// This thread's shard index: owned alone, or [`SHARED`] when every other shard is
/// taken or the thread is exiting. Kept with the thread's routing-table cache.
#[inline(always)]
pub(crate) fn shard() -> usize {
    super::thread_shard()
}

impl Counter {
    /// `n` more, on a shard looked up once by the caller (see [`shard`]).
    #[inline(always)]
    pub(crate) fn add_in(&self, shard: usize, n: u64) {
        let cell = &self.shards[shard.min(SHARED)].0;
        if shard < SHARED {
            // Only this thread writes this shard (it owns it), so a load and a store
            // cannot lose an increment; readers see the old or the new value.
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
        } else {
            cell.fetch_add(n, Ordering::Relaxed);
        }
    }

    #[inline(always)]
    pub(crate) fn add(&self, n: u64) {
        self.add_in(shard(), n);
    }

    /// One more, on a shard looked up once by the caller (see [`shard`]).
    #[inline(always)]
    pub(crate) fn incr_in(&self, shard: usize) {
        self.add_in(shard, 1);
    }

    #[inline(always)]
    pub(crate) fn incr(&self) {
        self.add(1);
    }

    pub(crate) fn get(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}
