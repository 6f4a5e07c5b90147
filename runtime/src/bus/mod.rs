//! The [`Bus`]'s facade and the services it offers beyond delivery: history and its
//! queries, dead letters, children scopes, request/response, replay, metrics rendering,
//! the link to a transport, and the builder that puts them together.

mod builder;
mod children;
mod current;
mod dead_letter;
mod history;
mod metrics;
mod remote;
mod replay;
mod request;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use uuid::Uuid;

pub use builder::Builder;
pub use children::{
    ChildFailure, ChildOutput, Children, ChildrenError, ScopeStatus, FINISHED_SCOPES,
};
pub use current::current_bus;
pub(crate) use current::{with_bus_or_current, with_current_bus};
pub use metrics::{HandlerMetrics, LatencySnapshot, Metrics, NameMetrics};
pub use replay::{ReplayReport, ReplaySource, REPLAYED_LABEL};

use crate::core::{lock, Bus, DeadLetter, Delivery, RecordSink};
use crate::envelope::Record;
use crate::error::BusError;
use crate::filter::Filter;
use crate::tree::Tree;
use dead_letter::DeadLetters;
use history::History;

/// Default history capacity.
pub const DEFAULT_HISTORY: usize = 10_000;
/// Default capacity of the queue of a handler with `concurrency = N`.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1_024;
/// Default dead-letter capacity.
pub const DEFAULT_DEAD_LETTERS: usize = 1_000;

/// What a bus offers beyond delivery, set by its [`Builder`] and read by the facade.
pub(crate) struct Services {
    /// The bounded history (also the first of the core's keepers).
    history: Option<Arc<Mutex<History>>>,
    /// Failed deliveries (also the core's dead-letter sink).
    dead: Arc<Mutex<DeadLetters>>,
    request_timeout: Duration,
    /// Stores that receive every kept record (also among the core's keepers), for
    /// reading records back.
    sinks: Vec<Arc<dyn RecordSink>>,
    /// The transport that sends every kept record to other processes.
    transport: Option<Arc<dyn crate::transport::Transport>>,
    /// What the inbox the transport was started with counts.
    inbox_counts: OnceLock<Arc<crate::transport::InboxCounts>>,
    /// Pending and running children scopes, and the last finished ones.
    scopes: children::Scopes,
}

/// The global bus (see [`crate::bus()`]).
pub(crate) fn global() -> &'static Bus {
    static GLOBAL: OnceLock<Bus> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        if let Err(e) = crate::registry::check() {
            eprintln!("herald: {e}");
        }
        Builder::default().build_unchecked()
    })
}

impl Bus {
    /// The bus's services. Every bus is made by a [`Builder`], which sets them.
    pub(crate) fn services(&self) -> &Services {
        self.inner
            .services
            .downcast_ref::<Services>()
            .expect("herald: a bus is always built with its services")
    }

    /// A builder for a new bus.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A bus that accepts emissions and does nothing with them, at near-zero cost.
    pub fn disabled() -> Bus {
        Builder::disabled().build_unchecked()
    }

    /// The records in history, oldest first.
    pub fn history(&self) -> Vec<Record> {
        self.services()
            .history
            .as_ref()
            .map(|h| lock(h).all())
            .unwrap_or_default()
    }

    /// One record of the history, by id. For the parent of a children scope,
    /// [`scope_status`](Bus::scope_status) shows its child ids and pending count.
    pub fn get(&self, id: Uuid) -> Option<Record> {
        self.services()
            .history
            .as_ref()
            .and_then(|h| lock(h).get(id))
    }

    /// The records of the history that `filter` matches, oldest first.
    pub fn query(&self, filter: &Filter) -> Vec<Record> {
        self.services()
            .history
            .as_ref()
            .map(|h| lock(h).query(filter))
            .unwrap_or_default()
    }

    /// The tree rooted at `root_id`, from history.
    pub fn tree(&self, root_id: Uuid) -> Option<Tree> {
        self.services()
            .history
            .as_ref()
            .and_then(|h| lock(h).tree(root_id))
    }

    /// Sizes of the history indexes (by id, by root): bounded by the capacity.
    #[doc(hidden)]
    pub fn __history_index_sizes(&self) -> (usize, usize) {
        self.services()
            .history
            .as_ref()
            .map(|h| lock(h).index_sizes())
            .unwrap_or_default()
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        let c = &self.inner.counters;
        let mut names: std::collections::BTreeMap<String, NameMetrics> = lock(&self.inner.names)
            .iter()
            .map(|(n, s)| (n.clone(), metrics::name_metrics(s)))
            .collect();
        let other = metrics::name_metrics(&self.inner.other_names);
        if other.emitted > 0 {
            names.insert("<other>".to_owned(), other);
        }
        let handlers = self
            .inner
            .table
            .load()
            .subs
            .iter()
            .map(|s| (s.name.to_string(), metrics::handler_metrics(s)))
            .collect();
        Metrics {
            emitted: names.values().map(|n| n.emitted).sum(),
            delivered: c.delivered.get(),
            failed: c.failed.get(),
            dead_lettered: c.dead_lettered.get(),
            expired: c.expired.get(),
            dropped: c.dropped.get(),
            names,
            handlers,
        }
    }

    /// Failed deliveries, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        lock(&self.services().dead).all()
    }

    /// Removes a dead letter and returns it.
    pub fn clear_dead_letter(&self, id: Uuid) -> Result<DeadLetter, BusError> {
        lock(&self.services().dead)
            .remove(id)
            .ok_or(BusError::UnknownDeadLetter(id))
    }

    /// Runs the failed handler of a dead letter again on its record. On success the dead
    /// letter is removed; on failure it stays, with one more attempt counted.
    pub async fn retry_dead_letter(&self, id: Uuid) -> Result<Delivery, BusError> {
        let letter = lock(&self.services().dead)
            .remove(id)
            .ok_or(BusError::UnknownDeadLetter(id))?;
        let sub = self
            .inner
            .table
            .load()
            .subs
            .iter()
            .find(|s| s.name == letter.handler())
            .cloned();
        let Some(sub) = sub else {
            lock(&self.services().dead).push(letter.clone());
            return Err(BusError::UnknownSubscription(letter.handler().to_owned()));
        };
        Ok(self.redeliver(&sub, letter).await)
    }
}
