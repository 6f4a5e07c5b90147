//! Execution slots: at most `max` operations execute at once, over all targets.
//!
//! Taking a slot is one compare-and-swap while nobody waits. A target that finds none
//! joins a first-come-first-served wait list (under a lock, taken only then), and each
//! finished execution hands its slot to the target at the front.
//!
//! No wake-up is lost: a waiter announces itself (`waiters += 1`) before its last try,
//! and a releaser frees its slot before it looks for waiters, so either the waiter's
//! last try sees the free slot or the releaser sees the waiter.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

use uuid::Uuid;

use super::shard::lock;

pub(crate) struct Slots {
    max: usize,
    taken: AtomicUsize,
    waiters: AtomicUsize,
    queue: Mutex<VecDeque<Uuid>>,
}

/// Where a target that must wait joins the list.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Behind everyone (a target asking for the first time).
    Back,
    /// In front (a target that was handed a slot another took first).
    Front,
}

impl Slots {
    pub(crate) fn new(max: usize) -> Slots {
        Slots {
            max: max.max(1),
            taken: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            queue: Mutex::new(VecDeque::new()),
        }
    }

    fn try_take(&self) -> bool {
        self.taken
            .fetch_update(SeqCst, SeqCst, |n| (n < self.max).then_some(n + 1))
            .is_ok()
    }

    /// Takes a slot for `target`, or puts `target` on the wait list and returns false.
    pub(crate) fn acquire(&self, target: Uuid, place: Place) -> bool {
        if place == Place::Back && self.waiters.load(SeqCst) == 0 && self.try_take() {
            return true;
        }
        let mut queue = lock(&self.queue);
        self.waiters.fetch_add(1, SeqCst);
        if (place == Place::Front || queue.is_empty()) && self.try_take() {
            self.waiters.fetch_sub(1, SeqCst);
            return true;
        }
        match place {
            Place::Back => queue.push_back(target),
            Place::Front => queue.push_front(target),
        }
        false
    }

    /// Frees a slot; returns whether a target may be waiting for it (then call
    /// [`next_waiting`](Slots::next_waiting)).
    pub(crate) fn release(&self) -> bool {
        self.taken.fetch_sub(1, SeqCst);
        self.waiters.load(SeqCst) > 0
    }

    /// The target at the front of the wait list.
    pub(crate) fn next_waiting(&self) -> Option<Uuid> {
        let mut queue = lock(&self.queue);
        let next = queue.pop_front();
        if next.is_some() {
            self.waiters.fetch_sub(1, SeqCst);
        }
        next
    }

    pub(crate) fn executing(&self) -> usize {
        self.taken.load(SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_are_served_in_order() {
        let s = Slots::new(1);
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        assert!(s.acquire(a, Place::Back));
        assert!(!s.acquire(b, Place::Back));
        assert!(!s.acquire(c, Place::Back));
        assert!(s.release());
        assert_eq!(s.next_waiting(), Some(b));
        assert!(s.acquire(b, Place::Front));
        // A newcomer does not jump the queue while someone waits.
        assert!(s.release());
        assert!(!s.acquire(a, Place::Back));
        assert_eq!(s.next_waiting(), Some(c));
        assert!(s.acquire(c, Place::Front));
        assert_eq!(s.executing(), 1);
        assert_eq!(s.next_waiting(), Some(a));
        assert_eq!(s.next_waiting(), None);
    }
}
