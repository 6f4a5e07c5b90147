//! Request/response: [`Bus::request`] emits a query and waits for the event its handler
//! returns, correlated by the query's id.

use std::any::TypeId;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use uuid::Uuid;

use crate::core::{Bus, EmitOptions, Key, Requests};
use crate::error::RequestError;
use crate::event::{Event, Query};

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
        self.request_within(q, self.services().request_timeout)
            .await
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
        let local_only = self
            .services()
            .transport
            .as_ref()
            .is_none_or(|t| !t.publishes());
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
        let route = self.route_key(&Key::of::<Q>(&name, true));
        route.subs.iter().any(|s| !s.is_paused())
    }
}
