//! Records from other processes, handed over by a transport's
//! [`Inbox`](crate::transport::Inbox).

use std::sync::Arc;

use super::replay::payload_type_id;
use crate::core::subscription::Subscription;
use crate::core::{lock, Bus, DeadLetter, Delivery};
use crate::envelope::Record;
use crate::transport::{Audience, TransportStats, TRANSPORT_HANDLER};

impl Bus {
    /// Delivers a record received from another process and waits for its handlers.
    ///
    /// For [`Audience::Everyone`] the record goes to this bus's history and to the
    /// subscriptions that are not `shared`; for [`Audience::Shared`], to the `shared`
    /// subscriptions only.
    pub(crate) async fn deliver_remote(&self, record: &Record, audience: Audience) -> Delivery {
        let type_id = payload_type_id(record);
        let name = record.meta().name.clone();
        match audience {
            Audience::Everyone => {
                if let Some(h) = &self.services().history {
                    lock(h).push(record.clone());
                }
                // Counted as emitted where it was emitted, not here.
                let route = self.route(type_id, &name);
                self.deliver_settled(record, &route.subs).await
            }
            Audience::Shared => {
                let subs: Vec<Arc<Subscription>> = self
                    .inner
                    .table
                    .load()
                    .subs
                    .iter()
                    .filter(|s| s.shared && s.routes(type_id, name.as_str()))
                    .cloned()
                    .collect();
                self.deliver_settled(record, &subs).await
            }
        }
    }

    /// Whether some subscription of this bus is `shared`.
    pub(crate) fn has_shared(&self) -> bool {
        self.inner.table.load().has_shared
    }

    /// What the bus's transport counted, or `None` for a bus without one.
    pub fn transport_stats(&self) -> Option<TransportStats> {
        let services = self.services();
        let transport = services.transport.as_ref()?;
        let mut stats = transport.stats();
        if let Some(counts) = services.inbox_counts.get() {
            counts.fill(&mut stats);
        }
        Some(stats)
    }
}

impl Bus {
    /// Dead-letters an entry a transport received but could not decode.
    pub(crate) fn dead_letter_entry(&self, record: Record, reason: &str) {
        let inner = &self.inner;
        inner.counters.dead_lettered.incr();
        let letter = DeadLetter::new(record, TRANSPORT_HANDLER.to_owned(), reason.to_owned(), 1);
        if inner.dead_letters.push(letter) {
            inner.counters.dropped.incr();
        }
    }
}
