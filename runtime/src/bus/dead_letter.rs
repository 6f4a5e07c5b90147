//! Dead letters: deliveries that failed, kept (bounded) for inspection and retry.

use std::collections::VecDeque;
use std::sync::Mutex;

use uuid::Uuid;

use crate::core::{lock, DeadLetter, DeadLetterSink};

/// The newest `capacity` dead letters.
pub(crate) struct DeadLetters {
    capacity: usize,
    letters: VecDeque<DeadLetter>,
}

impl DeadLetters {
    pub(crate) fn new(capacity: usize) -> DeadLetters {
        DeadLetters {
            capacity,
            letters: VecDeque::new(),
        }
    }

    /// Adds a letter; returns whether an older one was evicted to make room.
    pub(crate) fn push(&mut self, letter: DeadLetter) -> bool {
        if self.capacity == 0 {
            return true;
        }
        let evicted = if self.letters.len() == self.capacity {
            self.letters.pop_front();
            true
        } else {
            false
        };
        self.letters.push_back(letter);
        evicted
    }

    pub(crate) fn all(&self) -> Vec<DeadLetter> {
        self.letters.iter().cloned().collect()
    }

    pub(crate) fn remove(&mut self, id: Uuid) -> Option<DeadLetter> {
        let pos = self.letters.iter().position(|l| l.id() == id)?;
        self.letters.remove(pos)
    }
}

impl DeadLetterSink for Mutex<DeadLetters> {
    fn push(&self, letter: DeadLetter) -> bool {
        lock(self).push(letter)
    }
}
