//! [`InboxCounts`]: what an inbox counts of the entries its transport hands it.

use std::sync::atomic::{AtomicU64, Ordering};

use super::TransportStats;

/// Entries an inbox was handed, by what became of them.
#[derive(Default)]
pub(crate) struct InboxCounts {
    pub(crate) received: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) poisoned: AtomicU64,
    pub(crate) panics: AtomicU64,
}

impl InboxCounts {
    /// Adds these counts (received, delivered, duplicates, rejected, poisoned, panics)
    /// to a transport's own stats.
    pub(crate) fn fill(&self, stats: &mut TransportStats) {
        stats.received = self.received.load(Ordering::Relaxed);
        stats.delivered = self.delivered.load(Ordering::Relaxed);
        stats.duplicates = self.duplicates.load(Ordering::Relaxed);
        stats.rejected = self.rejected.load(Ordering::Relaxed);
        stats.poisoned = self.poisoned.load(Ordering::Relaxed);
        stats.panics += self.panics.load(Ordering::Relaxed);
    }
}
