//! Typed events, attribute-declared subscribers, and instrumented calls that nest
//! automatically.
//!
//! herald gives a Rust program a way to *see and react to* what happens inside it:
//!
//! - [`#[derive(Event)]`](derive@Event): typed events with a dotted name, a version and a kind;
//! - [`#[on(...)]`](on): free functions subscribed by type, glob pattern, predicate,
//!   phase or priority, registered at link time; what a handler emits, calls and spawns
//!   nests under the event it handles, so a root's tree holds the whole cascade;
//! - [`#[instrument_events]`](instrument_events): functions and methods, sync and async,
//!   emit started / completed / failed / cancelled events with timing, and everything
//!   that happens inside them nests under them (parent, root and correlation ids);
//! - a [`Bus`] with history, trees, dead letters, request/response and metrics;
//! - [transports](transport) that carry events between processes, an embedded event
//!   store, an operation coordinator and a command line, each behind a feature.
//!
//! ```
//! use herald::prelude::*;
//!
//! #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
//! #[event(name = "order.placed")]
//! pub struct OrderPlaced { pub order_id: u64, pub total_cents: u64 }
//!
//! #[on(OrderPlaced, group = "crate_docs")]
//! fn bill(ev: &OrderPlaced) {
//!     println!("billing order {} for {} cents", ev.order_id, ev.total_cents);
//! }
//!
//! #[instrument_events(name = "checkout.place_order")]
//! fn place_order(order_id: u64) -> Result<u64, String> {
//!     herald::emit(OrderPlaced { order_id, total_cents: 4_200 });
//!     Ok(order_id)
//! }
//!
//! let bus = herald::Bus::builder().group("crate_docs").build()?;
//! herald::with_bus(&bus, || place_order(7))?;
//!
//! let history = bus.history();
//! let names: Vec<&str> = history.iter().map(|r| r.name()).collect();
//! assert_eq!(names, ["checkout.place_order.started", "order.placed", "checkout.place_order.completed"]);
//! // The event emitted inside the call nests under its started event.
//! assert_eq!(history[1].parent_id(), Some(history[0].id()));
//! print!("{}", bus.tree(history[0].id()).unwrap());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! The default build is the bus and the nesting context: `herald`, `serde` and the few
//! crates they need. Everything else is opt-in:
//!
//! | feature | what it adds |
//! | --- | --- |
//! | `sqlite` | `herald::store`: the embedded SQLite event store (`SqliteStore`), and [`Bus::replay`] from it |
//! | `ops` | `herald::ops`: the operation coordinator (priorities, grace periods, retries) |
//! | `redis` | `herald::transport::Redis`: the Redis Streams transport |
//! | `redis-tls` | `rediss://` addresses for the Redis transport (rustls); turns on `redis` |
//! | `cli` | the `herald` command line (`query`, `tree`, `tail`, `replay`); turns on `sqlite` and `redis` |
//!
//! # Where herald differs from its written contract
//!
//! - [`Builder::build`] returns `Result<Bus, BuildError>`: a bus build reports two event
//!   types registered under one name as an error (the global [`bus()`] prints it instead).
//! - [`Bus::subscribe`] and [`Bus::subscribe_pattern`] take closures returning `()`, so
//!   `bus.subscribe::<T>(|ev| ..)` needs no second type argument; handlers that return a
//!   `Result` or an event, or that need filters and a priority, use [`Bus::on`] /
//!   [`Bus::on_pattern`]. Dropping the returned [`SubscriptionHandle`] unsubscribes.
//! - With `#[on(..)]`, `when = path` takes `fn(&T) -> bool` when a type is named and
//!   `fn(&Record) -> bool` otherwise.
//! - [`Bus::emit_batch`] reads the routing table once per batch but takes the history
//!   lock once per record (so history order matches emission order with nested events).
//! - A children scope's child ids and pending count are not on the parent's
//!   [`Record`] (records are immutable) but in [`Bus::scope_status`]`(parent_id)`;
//!   a child id names a spawned child, not a record. [`Bus::on_complete`] also fires
//!   for a scope that is cancelled, and returns `Err` for an unknown scope.
//! - [`Bus::replay`] reads the bus's store when it has one that can be read back (a
//!   `SqliteStore`), else its history; it skips records whose payload type is not
//!   registered, and does not append the replayed copies to history or stores.
//! - Handler latency is sampled (every invocation of a handler's first 1,024, then one
//!   in 64 on average), so a latency count may be lower than the delivered count.
//! - `herald::ops`: `ops::Operation` has an `id` field (so a child can name its
//!   parent), `max_retries` is an `Option` (the config default when `None`), and
//!   `submit` returns a `Result` (duplicate ids, parent cycles).
//! - Transports: a record from another process goes to the receiving bus's history
//!   but not to its stores (the publishing process stores it). [`transport::InMemory`] hands each clone its own endpoint.
//!   Undecodable entries are dead letters with handler
//!   [`transport::TRANSPORT_HANDLER`] and a `herald.transport.rejected` record that
//!   keeps the entry's text.
//! - Handlers of a `query` may return `R`, `Option<R>` or `Result<R, E>` (checked at
//!   compile time); [`Bus::request`] needs `R: Clone` to hand the response back.
//! - Timestamps and expiries are kept as nanoseconds since 1970, which reach the year
//!   2554: decoding a record stamped outside that range is a
//!   [`DecodeError::Malformed`](error::DecodeError::Malformed), and an expiry past it (a
//!   ttl of centuries) reads as none: the record never expires.

#![warn(missing_docs)]

// Lets the derives and attribute macros (which name `::herald::...`) expand inside this crate.
extern crate self as herald;

mod bus;
mod core;
mod envelope;
pub mod error;
mod event;
mod filter;
mod glob;
mod handler;
mod hash;
mod id;
mod instrument;
mod json;
mod lifecycle;
#[cfg(feature = "ops")]
pub mod ops;
pub mod registry;
mod route_slot;
#[cfg(feature = "sqlite")]
pub mod store;
mod time_fmt;
pub mod transport;
mod tree;
mod unwind;
mod wait;

#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use crate::bus::current_bus;
pub use crate::bus::{
    Builder, ChildFailure, ChildOutput, Children, ChildrenError, HandlerMetrics, LatencySnapshot,
    Metrics, NameMetrics, ReplayReport, ReplaySource, ScopeStatus, DEFAULT_DEAD_LETTERS,
    DEFAULT_HISTORY, DEFAULT_QUEUE_CAPACITY, FINISHED_SCOPES, REPLAYED_LABEL,
};
pub use crate::core::context::{current, scope, spawn, with_bus, InCurrentContext, WithContext};
pub use crate::core::subscription::SubscriptionInfo;
pub use crate::core::{
    Bus, DeadLetter, Delivery, Emit, Overflow, Pattern, RecordSink, SinkReadError, Subscriber,
    SubscriptionHandle, Typed,
};
pub use crate::envelope::{Envelope, Record};
pub use crate::event::{EntityRef, Event, Kind, Phase, Priority, Query};
pub use crate::filter::Filter;
pub use crate::handler::HandlerDescriptor;
pub use crate::lifecycle::{Cancelled, Completed, Failed, Started};
pub use crate::tree::{Tree, TreeNode};
pub use uuid::Uuid;

pub use herald_macros::{instrument_events, on, subscription, Event};

/// The global bus: every registered handler of group `"default"`, history 10,000.
pub fn bus() -> &'static Bus {
    crate::bus::global()
}

/// Emits `ev` on the current bus (see [`with_bus`] and [`scope`]; else the global bus).
pub fn emit<E: Event>(ev: E) -> Uuid {
    crate::bus::with_current_bus(|bus| bus.emit(ev))
}

/// `use herald::prelude::*` brings the macros, [`Event`] and the extension traits into scope.
pub mod prelude {
    pub use crate::core::context::InCurrentContext;
    pub use crate::event::Event;
    pub use herald_macros::{instrument_events, on, Event};
}

/// The README's example, compiled and run as a doctest so it stays true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
