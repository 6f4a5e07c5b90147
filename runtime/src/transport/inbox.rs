//! [`Inbox`]: where a transport hands the records it receives to its bus.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::counts::InboxCounts;
use super::guard::catch_panic;
use crate::core::{Bus, Delivery, Inner};
use crate::envelope::{Envelope, Meta, Name, Record};
use crate::event::Event;

/// How many record ids per [`Audience`] an inbox remembers to suppress duplicates.
pub const DEFAULT_DEDUP_WINDOW: usize = 65_536;

/// The handler name of the dead letters an inbox writes for entries it cannot decode.
pub const TRANSPORT_HANDLER: &str = "herald.transport";

/// Which subscriptions of this process a received record is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Every subscription that is not `shared` (each process gets each record).
    Everyone,
    /// Only the `shared` subscriptions (one process of the stream gets each record).
    Shared,
}

/// One entry received by a transport: the record's JSON (as
/// [`Record::to_json`](crate::Record::to_json) writes it), where it came from and whom
/// it is for.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    json: &'a str,
    origin: Option<Uuid>,
    audience: Audience,
    id: Option<&'a str>,
    deliveries: u64,
}

impl<'a> Incoming<'a> {
    /// An entry for [`Audience::Everyone`] from an unknown origin, handed out once.
    pub fn new(json: &'a str) -> Incoming<'a> {
        Incoming {
            json,
            origin: None,
            audience: Audience::Everyone,
            id: None,
            deliveries: 1,
        }
    }
    /// The entry's id on the wire (a Redis stream id), for dead letters.
    pub fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }
    /// How many times the wire handed the entry out, this time included (default 1).
    pub fn deliveries(mut self, times: u64) -> Self {
        self.deliveries = times;
        self
    }
    /// The [`Inbox::origin`] of the bus that published it.
    pub fn origin(mut self, origin: Uuid) -> Self {
        self.origin = Some(origin);
        self
    }
    /// Whom the entry is for (default [`Audience::Everyone`]).
    pub fn audience(mut self, audience: Audience) -> Self {
        self.audience = audience;
        self
    }
}

/// What [`Inbox::deliver`] did with an entry. Every outcome but
/// [`Closed`](Outcome::Closed) means the entry is dealt with (acknowledge it).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Delivered; every matching handler finished (failures are dead letters here).
    Delivered(Delivery),
    /// Published by this bus, and already delivered when it was emitted.
    Own,
    /// Delivered before (same id and audience, within the window).
    Duplicate,
    /// Not decodable, for this reason: dead-lettered (for [`Audience::Everyone`];
    /// only counted for [`Audience::Shared`], whose entry every process also gets for
    /// everyone).
    Rejected(String),
    /// Not delivered, for this reason (its handling panicked, or it was handed out
    /// more often than the transport allows): dead-lettered as a [`PoisonedEntry`].
    Poisoned(String),
    /// The bus is gone; the entry was not delivered (leave it for another consumer).
    Closed,
}

impl Outcome {
    /// Whether the entry is dealt with and can be acknowledged.
    pub fn is_done(&self) -> bool {
        !matches!(self, Outcome::Closed)
    }
}

/// The payload of the dead letter an inbox writes for an entry it cannot decode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, crate::Event)]
#[event(name = "herald.transport.rejected")]
pub struct RejectedEntry {
    /// Why it could not be decoded.
    pub reason: String,
    /// The entry's text, whole.
    pub entry: String,
    /// The bus that published it, when known.
    pub origin: Option<Uuid>,
}

/// The payload of the dead letter a transport writes for an entry it acknowledges
/// without delivering it ([`Inbox::poisoned`]): one handed out more often than the
/// transport's cap allows (each consumer that got it crashed or hung before
/// acknowledging it), or one whose handling panicked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, crate::Event)]
#[event(name = "herald.transport.poisoned")]
pub struct PoisonedEntry {
    /// Why it was not delivered.
    pub reason: String,
    /// The entry's id on the wire (a Redis stream id), when the transport gave it.
    pub entry_id: Option<String>,
    /// The entry's text, whole.
    pub entry: String,
    /// The bus that published it, when known.
    pub origin: Option<Uuid>,
    /// How many times the wire handed it out, this time included.
    pub deliveries: u64,
}

/// Record ids seen recently: a set bounded by a queue of insertion order.
struct Window {
    capacity: usize,
    ids: HashSet<Uuid, crate::hash::FxBuild>,
    order: VecDeque<Uuid>,
}

impl Window {
    fn new(capacity: usize) -> Window {
        Window {
            capacity,
            ids: HashSet::default(),
            order: VecDeque::new(),
        }
    }

    /// Inserts `id`; false when it was there already.
    fn insert(&mut self, id: Uuid) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if !self.ids.insert(id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        self.order.push_back(id);
        true
    }
}

struct Shared {
    bus: Weak<Inner>,
    origin: Uuid,
    everyone: Mutex<Window>,
    shared: Mutex<Window>,
    counts: Arc<InboxCounts>,
}

/// A transport's way into its bus; cheap to clone.
///
/// It holds the bus weakly: once the bus is dropped, [`deliver`](Inbox::deliver)
/// returns [`Outcome::Closed`] and [`is_closed`](Inbox::is_closed) is true, which is
/// the transport's signal to stop its background tasks.
#[derive(Clone)]
pub struct Inbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("origin", &self.shared.origin)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Inbox {
    pub(crate) fn new(bus: &Bus, window: usize) -> Inbox {
        Inbox {
            shared: Arc::new(Shared {
                bus: Arc::downgrade(&bus.inner),
                origin: crate::id::next_unkept(),
                everyone: Mutex::new(Window::new(window)),
                shared: Mutex::new(Window::new(window)),
                counts: Arc::default(),
            }),
        }
    }

    /// This bus's id on the wire: publish it with every record so that the bus can
    /// recognise its own records when they come back.
    pub fn origin(&self) -> Uuid {
        self.shared.origin
    }

    /// Whether the bus is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.bus.strong_count() == 0
    }

    /// Whether the bus wants records for `audience` now: for [`Audience::Shared`],
    /// whether it has a `shared` subscription (a transport leaves the shared records to
    /// other processes while it has none); for [`Audience::Everyone`], whether the bus
    /// is still there.
    pub fn wants(&self, audience: Audience) -> bool {
        let Some(inner) = self.shared.bus.upgrade() else {
            return false;
        };
        match audience {
            Audience::Everyone => true,
            Audience::Shared => Bus { inner }.has_shared(),
        }
    }

    /// Spawns a background task on the current tokio runtime, or on herald's own
    /// runtime thread when there is none.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(crate::core::spawn_task(task));
    }

    /// Decodes an entry and delivers it to the matching handlers of this process; resolves
    /// once every one of them finished (retries included), so the transport can
    /// acknowledge the entry afterwards (at least once).
    ///
    /// Records for [`Audience::Everyone`] are also appended to this bus's history (not
    /// to its stores: the publishing process keeps them).
    ///
    /// A panic while the entry is handled (a payload type's own `Deserialize`, say;
    /// handlers' panics are their own failures) is caught: the entry is dead-lettered
    /// as a [`PoisonedEntry`] and the outcome is [`Outcome::Poisoned`], so that the
    /// transport acknowledges it and goes on.
    pub async fn deliver(&self, incoming: Incoming<'_>) -> Outcome {
        match catch_panic(self.deliver_unguarded(incoming)).await {
            Ok(outcome) => outcome,
            Err(panic) => {
                self.shared.counts.panics.fetch_add(1, Ordering::Relaxed);
                // Counted as received by the attempt that panicked.
                self.poison(incoming, &format!("handling the entry {panic}"))
            }
        }
    }

    async fn deliver_unguarded(&self, incoming: Incoming<'_>) -> Outcome {
        let s = &*self.shared;
        s.counts.received.fetch_add(1, Ordering::Relaxed);
        let Some(inner) = s.bus.upgrade() else {
            return Outcome::Closed;
        };
        let bus = Bus { inner };
        if incoming.audience == Audience::Everyone && incoming.origin == Some(s.origin) {
            return Outcome::Own;
        }
        let record = match crate::registry::decode(incoming.json) {
            Ok(record) => record,
            Err(error) => {
                let reason = error.to_string();
                s.counts.rejected.fetch_add(1, Ordering::Relaxed);
                // Every process gets the entry for everyone; one dead letter each is
                // enough, so the copy for shared subscriptions is only counted.
                if incoming.audience == Audience::Everyone {
                    bus.dead_letter_entry(rejected_record(&reason, &incoming), &reason);
                }
                return Outcome::Rejected(reason);
            }
        };
        let window = match incoming.audience {
            Audience::Everyone => &s.everyone,
            Audience::Shared => &s.shared,
        };
        // A replay sends records again on purpose: they are not duplicates.
        let replayed = record.label(crate::REPLAYED_LABEL) == Some("true");
        let fresh = replayed
            || window
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(record.id());
        if !fresh {
            s.counts.duplicates.fetch_add(1, Ordering::Relaxed);
            return Outcome::Duplicate;
        }
        let delivery = bus.deliver_remote(&record, incoming.audience).await;
        s.counts.delivered.fetch_add(1, Ordering::Relaxed);
        Outcome::Delivered(delivery)
    }

    /// What the inbox counts, shared with its bus for
    /// [`Bus::transport_stats`](crate::Bus::transport_stats).
    pub(crate) fn counts(&self) -> Arc<InboxCounts> {
        self.shared.counts.clone()
    }

    /// Dead-letters an entry the transport acknowledges without delivering it (one
    /// handed out more often than it allows, say) as a [`PoisonedEntry`] with `reason`
    /// (handler [`TRANSPORT_HANDLER`]), and counts it in [`TransportStats::poisoned`](super::TransportStats::poisoned).
    /// Returns [`Outcome::Poisoned`], or [`Outcome::Closed`] when the bus is gone
    /// (nothing was written: leave the entry for another consumer).
    pub fn poisoned(&self, incoming: Incoming<'_>, reason: &str) -> Outcome {
        self.shared.counts.received.fetch_add(1, Ordering::Relaxed);
        self.poison(incoming, reason)
    }

    fn poison(&self, incoming: Incoming<'_>, reason: &str) -> Outcome {
        let s = &*self.shared;
        let Some(inner) = s.bus.upgrade() else {
            return Outcome::Closed;
        };
        s.counts.poisoned.fetch_add(1, Ordering::Relaxed);
        let payload = PoisonedEntry {
            reason: reason.to_owned(),
            entry_id: incoming.id.map(str::to_owned),
            entry: incoming.json.to_owned(),
            origin: incoming.origin,
            deliveries: incoming.deliveries,
        };
        Bus { inner }.dead_letter_entry(transport_record(payload), reason);
        Outcome::Poisoned(reason.to_owned())
    }
}

/// The record of the dead letter for an entry that could not be decoded.
fn rejected_record(reason: &str, incoming: &Incoming<'_>) -> Record {
    transport_record(RejectedEntry {
        reason: reason.to_owned(),
        entry: incoming.json.to_owned(),
        origin: incoming.origin,
    })
}

/// A record of `payload`, made by the transport (no parent: it nests under nothing).
fn transport_record<E: Event>(payload: E) -> Record {
    let meta = Meta::new(
        crate::id::next(),
        Name::Static(E::NAME),
        E::NAME,
        E::VERSION,
        E::KIND,
        E::PHASE.unwrap_or_default(),
        crate::id::now(),
    );
    Record::new(Envelope::new(meta, payload))
}
