//! Dead letters: deliveries that failed, kept (bounded) for inspection and retry.

use std::collections::VecDeque;

use uuid::Uuid;

use crate::envelope::Record;

/// A failed delivery: which record, which handler, why, after how many attempts.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    id: Uuid,
    record: Record,
    handler: String,
    error: String,
    attempts: u32,
}

impl DeadLetter {
    pub(crate) fn new(record: Record, handler: String, error: String, attempts: u32) -> DeadLetter {
        DeadLetter {
            id: crate::id::next(),
            record,
            handler,
            error,
            attempts,
        }
    }

    /// This dead letter's own id (for [`clear_dead_letter`](crate::Bus::clear_dead_letter)).
    pub fn id(&self) -> Uuid {
        self.id
    }
    /// The record whose delivery failed.
    pub fn record(&self) -> &Record {
        &self.record
    }
    /// The subscription name of the handler that failed.
    pub fn handler(&self) -> &str {
        &self.handler
    }
    /// The error text (the `Err`'s `Display`, or the panic message).
    pub fn error(&self) -> &str {
        &self.error
    }
    /// How many times the handler was run.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

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
        let pos = self.letters.iter().position(|l| l.id == id)?;
        self.letters.remove(pos)
    }
}
