//! [`DeadLetter`]: a delivery that failed for good, and where the core sends one.

use uuid::Uuid;

use crate::envelope::Record;

/// Where the core sends failed deliveries (the bus's bounded dead-letter list).
pub(crate) trait DeadLetterSink: Send + Sync {
    /// Keeps `letter`; returns whether an older letter was evicted to make room.
    fn push(&self, letter: DeadLetter) -> bool;
}

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
