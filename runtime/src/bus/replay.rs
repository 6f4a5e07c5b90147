//! Replay: [`Bus::replay`] re-delivers recorded events (from the bus's store, else its
//! history) to the current subscriptions, each marked with the label [`REPLAYED_LABEL`].
//!
//! Records are immutable and shared, so a replayed record is a copy: the original's
//! metadata (same id, links, timestamp) plus the label, with its payload rebuilt from
//! the payload's JSON by the registered event type (the path a store uses to read
//! records back).

use std::any::{Any, TypeId};
use std::sync::Arc;

use crate::core::subscription::{Callback, HandlerInput, Subscription};
use crate::core::{Bus, Delivery, Scheduled};
use crate::envelope::{Meta, Record};
use crate::filter::Filter;
use crate::json::DecodedMeta;

/// The label a replayed record carries, with the value `"true"`.
pub const REPLAYED_LABEL: &str = "replayed";

/// Where [`Bus::replay`] read the records it replayed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplaySource {
    /// The bus's history (a bus without a readable store).
    #[default]
    History,
    /// The bus's store (see [`RecordSink::records`](crate::RecordSink::records)).
    Store,
}

/// What [`Bus::replay`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Where the records came from.
    pub source: ReplaySource,
    /// Why the store could not be read, in which case nothing was replayed.
    pub error: Option<String>,
    /// Records that the filter matched.
    pub matched: usize,
    /// Records re-delivered (with the label).
    pub replayed: usize,
    /// Records not re-delivered because their payload could not be rebuilt: the type
    /// is not registered (a generic or hand-written `Event`) or its JSON does not read
    /// back.
    pub skipped: usize,
    /// Handler invocations that succeeded (retries included).
    pub handled: usize,
    /// Handler invocations that failed after their retries (now dead letters).
    pub failed: usize,
    /// Handlers routed to a record but skipped by a filter or a pause.
    pub filtered: usize,
    /// Handlers skipped because the record had expired.
    pub expired: usize,
    /// Deliveries refused or dropped by a full handler queue.
    pub dropped: usize,
}

/// The `TypeId` of a record's payload.
pub(crate) fn payload_type_id(record: &Record) -> TypeId {
    let payload: &dyn Any = record.payload.__as_any();
    payload.type_id()
}

/// A copy of `record` with the label `replayed = "true"`, or `None` when its payload
/// cannot be rebuilt by its registered type.
fn replayed_copy(record: &Record) -> Option<Record> {
    let descriptor = crate::registry::descriptor(record.event_name())?;
    if (descriptor.type_id)() != payload_type_id(record) {
        return None;
    }
    let payload = record.payload.__to_json().ok()?;
    let mut meta: Meta = record.meta().clone();
    meta.extra
        .get_or_insert_with(Box::default)
        .labels
        .insert(REPLAYED_LABEL.to_owned(), "true".to_owned());
    (descriptor.decode)(DecodedMeta(meta), payload).ok()
}

impl Bus {
    /// Re-delivers the recorded events that `filter` matches, oldest first, to the
    /// subscriptions that match them now, and reports what happened.
    ///
    /// The records come from the bus's store when it has one that can be read back
    /// (a `SqliteStore`, flushed first so that it holds
    /// everything emitted so far), else from its history; [`ReplayReport::source`]
    /// says which. A store that fails to read is reported in [`ReplayReport::error`]
    /// and nothing is replayed. Store reads are synchronous SQLite calls.
    ///
    /// Each re-delivered record is a copy of the original (same id, links and
    /// timestamp) carrying the label [`REPLAYED_LABEL`] = `"true"`. Delivery is as on
    /// [`emit_and_wait`](Bus::emit_and_wait): sync handlers run inline, async ones are
    /// awaited, retries and dead letters follow each handler's policy, an expired
    /// record is not delivered, and everything is counted in [`metrics`](Bus::metrics)
    /// as delivered or failed. One record's handlers all finish before the next record
    /// is delivered, so handlers see the original order.
    ///
    /// Replayed records are not appended to history or stores again; events that
    /// handlers emit while handling them are new records, kept as usual. A filter's
    /// `limit(n)` replays the newest `n` matches. Records whose payload cannot be
    /// rebuilt are counted in [`ReplayReport::skipped`].
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use herald::prelude::*;
    /// use herald::{Bus, Filter};
    ///
    /// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
    /// #[event(name = "doc.replay_tick")]
    /// struct Tick { n: u32 }
    ///
    /// let bus = Bus::builder().registered_handlers(false).build().unwrap();
    /// bus.emit(Tick { n: 1 });
    /// bus.emit(Tick { n: 2 });
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// let _sub = bus.subscribe::<Tick>(move |ev| {
    ///     let replayed = ev.label(herald::REPLAYED_LABEL) == Some("true");
    ///     s.lock().unwrap().push((ev.payload().n, replayed));
    /// });
    ///
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let report = rt.block_on(bus.replay(&Filter::new().name("doc.replay_tick")));
    /// assert_eq!((report.replayed, report.handled), (2, 2));
    /// assert_eq!(*seen.lock().unwrap(), [(1, true), (2, true)]);
    /// assert_eq!(bus.history().len(), 2); // not appended again
    /// ```
    pub async fn replay(&self, filter: &Filter) -> ReplayReport {
        let mut report = ReplayReport::default();
        let mut records = None;
        for sink in &self.services().sinks {
            sink.flush().await;
            if let Some(read) = sink.records(filter) {
                report.source = ReplaySource::Store;
                match read {
                    Ok(found) => records = Some(found),
                    Err(error) => {
                        report.error = Some(error.to_string());
                        return report;
                    }
                }
                break;
            }
        }
        let records = records.unwrap_or_else(|| self.query(filter));
        report.matched = records.len();
        for original in &records {
            match replayed_copy(original) {
                Some(record) => {
                    report.replayed += 1;
                    self.deliver_replayed(&record, &mut report).await;
                }
                None => report.skipped += 1,
            }
        }
        report
    }

    /// Delivers one replayed record to its current route and waits for every handler.
    async fn deliver_replayed(&self, record: &Record, report: &mut ReplayReport) {
        let route = self.route(payload_type_id(record), &record.meta().name);
        let delivery = self.deliver_settled(record, &route.subs).await;
        report.handled += delivery.handled;
        report.failed += delivery.failed;
        report.filtered += delivery.filtered;
        report.expired += delivery.expired;
        report.dropped += delivery.dropped;
    }

    /// Delivers `record` to `subs` as `emit_and_wait` would (sync handlers first attempt
    /// inline, async ones awaited, retries and dead letters by policy) and waits for
    /// every one of them.
    pub(crate) async fn deliver_settled(
        &self,
        record: &Record,
        subs: &[Arc<Subscription>],
    ) -> Delivery {
        let mut delivery = Delivery {
            id: record.id(),
            ..Delivery::default()
        };
        if record.is_expired_at(std::time::SystemTime::now()) {
            if !subs.is_empty() {
                self.inner.counters.expired.incr();
            }
            delivery.expired += subs.len();
            return delivery;
        }
        let inner = &*self.inner;
        let input = HandlerInput {
            envelope: record,
            record: Some(record),
        };
        let mut pending: Vec<(Arc<Subscription>, Scheduled)> = Vec::new();
        for sub in subs {
            if sub.is_paused() || !sub.accepts(input) {
                delivery.filtered += 1;
                continue;
            }
            if let Callback::Async(_) = sub.callback {
                pending.push((sub.clone(), self.schedule(sub, record, None, true)));
                continue;
            }
            // A sync handler: first attempt inline, retries scheduled, as on emit.
            match self.attempt_once(sub, record).await {
                Ok(()) => {
                    sub.delivered.incr();
                    inner.counters.delivered.incr();
                    delivery.handled += 1;
                }
                Err(error) => {
                    sub.failed.incr();
                    inner.counters.failed.incr();
                    if sub.retry == 0 {
                        inner.dead_letter(record.clone(), sub, error.into(), 1);
                        delivery.failed += 1;
                    } else {
                        let retry = self.schedule(sub, record, Some((1, error.into())), true);
                        pending.push((sub.clone(), retry));
                    }
                }
            }
        }
        for (sub, scheduled) in pending {
            delivery.count(scheduled.outcome(self, &sub, record).await);
        }
        delivery
    }
}
