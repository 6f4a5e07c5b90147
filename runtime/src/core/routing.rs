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

use crate::core::counters::NameStats;
use crate::core::subscription::Subscription;
use crate::envelope::Name;
use crate::hash::FxBuild;
use crate::route_slot::RouteSlot;

/// Routes for dynamic names beyond this many are computed per emit, not cached.
pub(crate) const MAX_CACHED_NAMES: usize = 4096;

/// The `by_address` key of a static name: its address and length, with the type.
#[inline(always)]
fn address_key(name: &'static str, type_id: TypeId) -> (usize, usize, TypeId) {
    (name.as_ptr() as usize, name.len(), type_id)
}

/// What a record is routed by: its payload type and its name.
#[derive(Clone, Copy)]
pub(crate) struct Key<'a> {
    pub(crate) type_id: TypeId,
    pub(crate) name: &'a Name,
    /// The name is the type's own `NAME`.
    pub(crate) is_type_name: bool,
    /// The key's [`RouteSlot`] index, if it has one.
    pub(crate) slot: Option<usize>,
}

impl<'a> Key<'a> {
    /// Records of type `E` named `name` (which may be `E::NAME`).
    #[inline]
    pub(crate) fn of<E: crate::event::Event>(name: &'a Name, is_type_name: bool) -> Key<'a> {
        Key {
            type_id: TypeId::of::<E>(),
            name,
            is_type_name,
            slot: if is_type_name {
                E::__herald_route_slot().index()
            } else {
                None
            },
        }
    }

    /// The same key, found by `slot` when one is given (a call site's name).
    #[inline]
    pub(crate) fn with_slot(self, slot: Option<&RouteSlot>) -> Key<'a> {
        match slot {
            Some(slot) => Key {
                slot: slot.index(),
                ..self
            },
            None => self,
        }
    }
}

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
    /// Routes of keys with a [`RouteSlot`], by slot index.
    slotted: Vec<Option<Arc<Route>>>,
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
            slotted: Vec::new(),
        }
    }

    /// The cached route of `key`.
    #[inline(always)]
    pub(crate) fn get(&self, key: &Key<'_>) -> Option<&Arc<Route>> {
        if let Some(i) = key.slot {
            return self.slotted.get(i)?.as_ref();
        }
        match key.name {
            _ if key.is_type_name => self.typed.get(&key.type_id),
            Name::Static(s) => self.by_address.get(&address_key(s, key.type_id)),
            name @ Name::Shared(_) => self.named.get(name.as_str())?.get(&key.type_id),
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
    pub(crate) fn with_route(&self, key: &Key<'_>, route: Arc<Route>) -> Option<RoutingTable> {
        let mut next = self.clone();
        if let Some(i) = key.slot {
            if next.slotted.len() <= i {
                next.slotted.resize(i + 1, None);
            }
            next.slotted[i] = Some(route);
        } else if key.is_type_name {
            next.typed.insert(key.type_id, route);
        } else {
            if next.named_count >= MAX_CACHED_NAMES {
                return None;
            }
            next.named_count += 1;
            match key.name {
                Name::Static(s) => {
                    next.by_address.insert(address_key(s, key.type_id), route);
                }
                name @ Name::Shared(_) => {
                    next.named
                        .entry(name.clone())
                        .or_default()
                        .insert(key.type_id, route);
                }
            }
        }
        Some(next)
    }
}
