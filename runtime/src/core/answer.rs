//! Requests waiting for their response, by query id: the emit path hands a response to
//! its requester, and a query's dead-lettered handler fails it.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::oneshot;
use uuid::Uuid;

use super::lock;
use crate::envelope::Record;
use crate::error::RequestError;

pub(crate) type Reply = Result<Record, RequestError>;

/// Requests waiting for their response, by query id.
#[derive(Default)]
pub(crate) struct Requests {
    waiting: Mutex<HashMap<Uuid, Waiting>>,
    /// Lets the emit path skip the lock when nothing waits.
    count: AtomicUsize,
}

pub(crate) struct Waiting {
    response: TypeId,
    reply: oneshot::Sender<Reply>,
}

/// The requester of one query, handed to the emission of its response.
pub(crate) struct Answer(oneshot::Sender<Reply>);

impl Answer {
    pub(crate) fn send(self, record: &Record) {
        let _ = self.0.send(Ok(record.clone()));
    }
}

impl Requests {
    pub(crate) fn register(&self, id: Uuid, response: TypeId) -> oneshot::Receiver<Reply> {
        let (reply, rx) = oneshot::channel();
        lock(&self.waiting).insert(id, Waiting { response, reply });
        self.count.fetch_add(1, Ordering::Release);
        rx
    }

    pub(crate) fn remove(&self, id: Uuid) -> Option<Waiting> {
        let removed = lock(&self.waiting).remove(&id);
        if removed.is_some() {
            self.count.fetch_sub(1, Ordering::Release);
        }
        removed
    }

    /// The requester of query `query`, when `response` is the type it waits for.
    #[inline]
    pub(crate) fn take(&self, query: Uuid, response: TypeId) -> Option<Answer> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut waiting = lock(&self.waiting);
        if waiting.get(&query)?.response != response {
            return None;
        }
        let w = waiting.remove(&query)?;
        self.count.fetch_sub(1, Ordering::Release);
        Some(Answer(w.reply))
    }

    /// A handler of `query` failed for good: its requester gets the error.
    pub(crate) fn fail(&self, query: Uuid, handler: &str, error: &str) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        if let Some(w) = self.remove(query) {
            let _ = w.reply.send(Err(RequestError::HandlerFailed {
                handler: handler.to_owned(),
                error: error.to_owned(),
            }));
        }
    }
}
