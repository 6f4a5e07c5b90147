//! [`InMemory`]: buses of one process linked as if they were processes on one stream.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

use super::{Audience, BoxFuture, Inbox, Incoming, Transport, TransportError, TransportStats};
use crate::envelope::Record;

/// Entries in flight on one link beyond which publishing counts records as lost.
const DEFAULT_CAPACITY: usize = 1 << 20;

/// One entry on its way to a member.
struct Entry {
    json: Arc<str>,
    origin: Uuid,
    audience: Audience,
}

struct Member {
    inbox: Inbox,
    tx: mpsc::UnboundedSender<Entry>,
}

struct Link {
    members: Mutex<Vec<Member>>,
    /// Round-robin position for shared deliveries.
    turn: AtomicUsize,
    /// Entries sent to a member and not yet delivered by it.
    pending: AtomicUsize,
    idle: Notify,
    capacity: usize,
}

impl Link {
    fn done(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    sent: AtomicU64,
    lost: AtomicU64,
}

/// Links the buses of one process as if each were a process of its own on one stream:
/// made for tests of code that runs on several processes.
///
/// Each clone is one endpoint of the same link: give every bus its own clone
/// (`.transport(link.clone())`); a clone starts once. Records cross as JSON and are
/// decoded by registered name, as they would be over a network, so a type that is not
/// registered is dead-lettered on the receiving side. Every bus gets every record of the
/// others; each record for `shared` subscriptions goes to one bus, in turn.
///
/// See the [module docs](crate::transport) for an example.
pub struct InMemory {
    link: Arc<Link>,
    inbox: Arc<OnceLock<Inbox>>,
    counters: Arc<Counters>,
}

impl InMemory {
    /// A new link, and its first endpoint.
    pub fn new() -> InMemory {
        InMemory::with_capacity(DEFAULT_CAPACITY)
    }

    /// A new link on which at most `capacity` entries may wait for delivery; beyond
    /// that, published records are counted as lost.
    pub fn with_capacity(capacity: usize) -> InMemory {
        InMemory {
            link: Arc::new(Link {
                members: Mutex::new(Vec::new()),
                turn: AtomicUsize::new(0),
                pending: AtomicUsize::new(0),
                idle: Notify::new(),
                capacity,
            }),
            inbox: Arc::new(OnceLock::new()),
            counters: Arc::default(),
        }
    }

    /// Resolves when every entry sent on the link has been delivered and handled by
    /// its receiving bus (including entries that handlers emitted meanwhile).
    pub async fn settle(&self) {
        let pending = &self.link.pending;
        crate::wait::until(&self.link.idle, || pending.load(Ordering::Acquire) == 0).await;
    }

    fn send(&self, member: &Member, entry: Entry) -> bool {
        self.link.pending.fetch_add(1, Ordering::AcqRel);
        if member.tx.send(entry).is_ok() {
            true
        } else {
            self.link.done();
            false
        }
    }
}

impl Default for InMemory {
    fn default() -> Self {
        InMemory::new()
    }
}

impl Clone for InMemory {
    /// A new endpoint on the same link.
    fn clone(&self) -> Self {
        InMemory {
            link: self.link.clone(),
            inbox: Arc::new(OnceLock::new()),
            counters: Arc::default(),
        }
    }
}

impl std::fmt::Debug for InMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemory")
            .field("started", &self.inbox.get().is_some())
            .field("pending", &self.link.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Transport for InMemory {
    fn start(&self, inbox: Inbox) -> Result<(), TransportError> {
        if self.inbox.set(inbox.clone()).is_err() {
            return Err(TransportError::AlreadyStarted);
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<Entry>();
        let origin = inbox.origin();
        self.link
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Member {
                inbox: inbox.clone(),
                tx,
            });
        let link = self.link.clone();
        inbox.clone().spawn(async move {
            while let Some(entry) = rx.recv().await {
                let incoming = Incoming::new(&entry.json)
                    .origin(entry.origin)
                    .audience(entry.audience);
                let outcome = inbox.deliver(incoming).await;
                link.done();
                if !outcome.is_done() {
                    break;
                }
            }
            // The bus is gone: leave the link, and count what was still queued as done.
            link.members
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|m| m.inbox.origin() != origin);
            rx.close();
            while rx.try_recv().is_ok() {
                link.done();
            }
        });
        Ok(())
    }

    fn publish(&self, record: &Record) {
        let c = &*self.counters;
        c.published.fetch_add(1, Ordering::Relaxed);
        let Some(inbox) = self.inbox.get() else {
            c.lost.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if self.link.pending.load(Ordering::Relaxed) >= self.link.capacity {
            c.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let origin = inbox.origin();
        let json: Arc<str> = record.to_json().into();
        let mut members = self
            .link
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Buses dropped since the last publish leave the link.
        members.retain(|m| !m.inbox.is_closed());
        for member in members.iter().filter(|m| m.inbox.origin() != origin) {
            let entry = Entry {
                json: json.clone(),
                origin,
                audience: Audience::Everyone,
            };
            self.send(member, entry);
        }
        if !members.is_empty() {
            let turn = self.link.turn.fetch_add(1, Ordering::Relaxed) % members.len();
            let entry = Entry {
                json,
                origin,
                audience: Audience::Shared,
            };
            self.send(&members[turn], entry);
        }
        c.sent.fetch_add(1, Ordering::Relaxed);
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn stats(&self) -> TransportStats {
        let c = &*self.counters;
        TransportStats {
            published: c.published.load(Ordering::Relaxed),
            sent: c.sent.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            buffered: 0,
            ..TransportStats::default()
        }
    }
}
