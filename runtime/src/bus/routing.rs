//! The routing table: subscriptions in delivery order, and the resolved route of each
//! (event type, record name) pair.
//!
//! A table is immutable. Subscribing or unsubscribing builds a new one (new epoch);
//! resolving a pair for the first time publishes a copy with the route added (same
//! epoch). Emitters only load the current table, so the hot path takes no lock.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::bus::metrics::NameStats;
use crate::envelope::Name;
use crate::hash::FxBuild;
use crate::subscription::Subscription;

/// Routes for dynamic names beyond this many are computed per emit, not cached.
pub(crate) const MAX_CACHED_NAMES: usize = 4096;

/// The subscriptions one (type, name) pair is delivered to, in order.
pub(crate) struct Route {
    pub(crate) subs: Box<[Arc<Subscription>]>,
    /// Some subscription needs a shared `Record` (async, `&Record`), or history is on.
    pub(crate) needs_record: bool,
    pub(crate) keep: bool,
    pub(crate) stats: Arc<NameStats>,
}

impl Route {
    /// Whether an emission on this route does anything beyond counting.
    #[inline]
    pub(crate) fn wanted(&self) -> bool {
        self.keep || !self.subs.is_empty()
    }
}

static EPOCH: AtomicU64 = AtomicU64::new(1);

/// A number no table publish has used before.
pub(crate) fn next_version() -> u64 {
    EPOCH.fetch_add(1, Ordering::Relaxed)
}

#[derive(Clone)]
pub(crate) struct RoutingTable {
    pub(crate) epoch: u64,
    /// Every subscription, in delivery order: priority descending, then name.
    pub(crate) subs: Arc<[Arc<Subscription>]>,
    /// Whether records are kept (history, stores, transport).
    pub(crate) keep: bool,
    /// Whether a transport runs `shared` subscriptions: they are left out of routes.
    pub(crate) sharing: bool,
    /// Whether any subscription is `shared`.
    pub(crate) has_shared: bool,
    typed: HashMap<TypeId, Arc<Route>, FxBuild>,
    named: HashMap<Name, HashMap<TypeId, Arc<Route>, FxBuild>, FxBuild>,
    /// Static names (lifecycle names of call sites) keyed by address and length:
    /// cheaper to hash than their text.
    by_address: HashMap<(usize, usize, TypeId), Arc<Route>, FxBuild>,
    named_count: usize,
}

impl RoutingTable {
    pub(crate) fn new(mut subs: Vec<Arc<Subscription>>, keep: bool, sharing: bool) -> RoutingTable {
        subs.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        let has_shared = subs.iter().any(|s| s.shared);
        RoutingTable {
            epoch: EPOCH.fetch_add(1, Ordering::Relaxed),
            subs: subs.into(),
            keep,
            sharing,
            has_shared,
            typed: HashMap::default(),
            named: HashMap::default(),
            by_address: HashMap::default(),
            named_count: 0,
        }
    }

    /// The cached route of records of `type_id` named `name`; `is_type_name` says the
    /// name is the type's own `NAME`.
    #[inline]
    pub(crate) fn get(
        &self,
        type_id: TypeId,
        name: &Name,
        is_type_name: bool,
    ) -> Option<&Arc<Route>> {
        match name {
            _ if is_type_name => self.typed.get(&type_id),
            Name::Static(s) => self
                .by_address
                .get(&(s.as_ptr() as usize, s.len(), type_id)),
            Name::Shared(_) => self.named.get(name.as_str())?.get(&type_id),
        }
    }

    pub(crate) fn resolve(&self, type_id: TypeId, name: &str, stats: Arc<NameStats>) -> Route {
        let subs: Vec<Arc<Subscription>> = self
            .subs
            .iter()
            .filter(|s| !(self.sharing && s.shared) && s.routes(type_id, name))
            .cloned()
            .collect();
        let needs_record = self.keep || subs.iter().any(|s| s.is_async() || s.wants_record);
        Route {
            subs: subs.into(),
            needs_record,
            keep: self.keep,
            stats,
        }
    }

    /// A copy with `route` cached, or `None` when the cache for dynamic names is full.
    pub(crate) fn with_route(
        &self,
        type_id: TypeId,
        name: &Name,
        is_type_name: bool,
        route: Arc<Route>,
    ) -> Option<RoutingTable> {
        let mut next = self.clone();
        if is_type_name {
            next.typed.insert(type_id, route);
        } else {
            if next.named_count >= MAX_CACHED_NAMES {
                return None;
            }
            next.named_count += 1;
            match name {
                Name::Static(s) => {
                    next.by_address
                        .insert((s.as_ptr() as usize, s.len(), type_id), route);
                }
                Name::Shared(_) => {
                    next.named
                        .entry(name.clone())
                        .or_default()
                        .insert(type_id, route);
                }
            }
        }
        Some(next)
    }
}
