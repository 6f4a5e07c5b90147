//! Request/response: [`Bus::request`] emits a query and waits for the event its handler
//! returns, correlated by the query's id.

use std::any::TypeId;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::oneshot;
use uuid::Uuid;

use super::{lock, Bus, EmitOptions};
use crate::envelope::Record;
use crate::error::RequestError;
use crate::event::{Event, Query};

type Reply = Result<Record, RequestError>;

/// Requests waiting for their response, by query id.
#[derive(Default)]
pub(crate) struct Requests {
    waiting: Mutex<HashMap<Uuid, Waiting>>,
    /// Lets the emit path skip the lock when nothing waits.
    count: AtomicUsize,
}

struct Waiting {
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
    fn register(&self, id: Uuid, response: TypeId) -> oneshot::Receiver<Reply> {
        let (reply, rx) = oneshot::channel();
        lock(&self.waiting).insert(id, Waiting { response, reply });
        self.count.fetch_add(1, Ordering::Release);
        rx
    }

    fn remove(&self, id: Uuid) -> Option<Waiting> {
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

/// Removes a request that was given up (timed out or dropped).
struct Registration<'a> {
    requests: &'a Requests,
    id: Uuid,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.requests.remove(self.id);
    }
}

impl Bus {
    /// Emits the query `q` and waits for its response: the event a handler of `Q`
    /// returns (causation = the query, same correlation id), within the bus's
    /// [`request_timeout`](super::Builder::request_timeout).
    ///
    /// It fails at once with [`RequestError::NoResponder`] when no unpaused handler
    /// routes `Q`, and with [`RequestError::HandlerFailed`] when a handler fails for
    /// good (after its retries). A handler that returns `None` lets another handler's
    /// answer win; when every local handler has finished (async ones and retries
    /// included) and none answered, the request fails with [`RequestError::NoAnswer`].
    /// On a bus with a transport that publishes, a responder may be in another
    /// process, so the timeout is the only end of an unanswered request.
    ///
    /// ```
    /// use herald::prelude::*;
    ///
    /// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
    /// #[event(name = "doc.price.answer", kind = "response")]
    /// struct Price { cents: u64 }
    ///
    /// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
    /// #[event(name = "doc.price.ask", kind = "query", response = Price)]
    /// struct AskPrice { sku: String }
    ///
    /// #[on(AskPrice, group = "doc_request")]
    /// fn quote(q: &AskPrice) -> Price {
    ///     Price { cents: q.sku.len() as u64 * 100 }
    /// }
    ///
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// let bus = herald::Bus::builder().group("doc_request").build().unwrap();
    /// let price = bus.request(AskPrice { sku: "abc".into() }).await.unwrap();
    /// assert_eq!(price.cents, 300);
    /// # });
    /// ```
    pub async fn request<Q>(&self, q: Q) -> Result<Q::Response, RequestError>
    where
        Q: Query,
        Q::Response: Clone,
    {
        self.request_within(q, self.inner.request_timeout).await
    }

    /// [`request`](Bus::request) with its own timeout.
    pub async fn request_within<Q>(
        &self,
        q: Q,
        timeout: Duration,
    ) -> Result<Q::Response, RequestError>
    where
        Q: Query,
        Q::Response: Clone,
    {
        if !self.has_responder::<Q>() {
            return Err(RequestError::NoResponder { query: Q::NAME });
        }
        let id = crate::id::next();
        let requests = &self.inner.requests;
        let mut rx = requests.register(id, TypeId::of::<Q::Response>());
        let _registration = Registration { requests, id };
        let opts = EmitOptions {
            id: Some(id),
            ..EmitOptions::default()
        };
        // Without a transport every responder is local: once they have all finished
        // (async ones and retries included) without answering, no answer will come.
        let local_only = self.inner.transport.as_ref().is_none_or(|t| !t.publishes());
        let mut handled = std::pin::pin!(self.dispatch_and_wait(q, opts));
        let mut finished = false;
        let reply = std::future::poll_fn(|cx| {
            if let Poll::Ready(reply) = Pin::new(&mut rx).poll(cx) {
                return Poll::Ready(reply.ok());
            }
            if !finished && handled.as_mut().poll(cx).is_ready() {
                finished = true;
                // A handler's answer is sent before its delivery finishes.
                if let Ok(reply) = rx.try_recv() {
                    return Poll::Ready(Some(reply));
                }
            }
            if finished && local_only {
                return Poll::Ready(Some(Err(RequestError::NoAnswer { query: Q::NAME })));
            }
            Poll::Pending
        });
        match tokio::time::timeout(timeout, reply).await {
            Ok(Some(Ok(record))) => record
                .downcast_ref::<Q::Response>()
                .cloned()
                .ok_or(RequestError::NoAnswer { query: Q::NAME }),
            Ok(Some(Err(e))) => Err(e),
            Ok(None) => Err(RequestError::NoAnswer { query: Q::NAME }),
            Err(_) => Err(RequestError::Timeout {
                query: Q::NAME,
                after: timeout,
            }),
        }
    }

    /// Whether some unpaused subscription routes queries of type `Q`.
    fn has_responder<Q: Event>(&self) -> bool {
        let name = crate::envelope::Name::Static(Q::NAME);
        let route = self.route_key(&super::Key::of::<Q>(&name, true));
        route.subs.iter().any(|s| !s.is_paused())
    }
}
