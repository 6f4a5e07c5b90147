//! Procedural macros for `herald`: `#[derive(Event)]`, `#[on(..)]`,
//! `#[instrument_events(..)]` and `subscription!(..)`.
//!
//! Use them through the `herald` crate, which re-exports them (`herald::Event`,
//! `herald::on`, `herald::instrument_events`, `herald::subscription!`) and holds what
//! the generated code calls. The expansions name only `::herald::__private::..` (not
//! public API) and `::core::..`, so a crate using them depends on `herald` and `serde`
//! and on nothing else.
//!
//! Mistakes are compile errors spanned on what was written, all reported together,
//! beside the untouched item (or a harmless stand-in), so one mistake gives one error.
//!
//! ```
//! use herald::prelude::*;
//!
//! #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
//! #[event(name = "order.placed", version = 2, ttl = "30s")]
//! pub struct OrderPlaced {
//!     pub order_id: u64,
//! }
//!
//! #[on(OrderPlaced, priority = 10)]
//! fn reserve_stock(order: &OrderPlaced) -> Result<(), String> {
//!     let _ = order.order_id;
//!     Ok(())
//! }
//!
//! #[instrument_events(args)]
//! fn checkout(order_id: u64) -> Result<u64, String> {
//!     herald::emit(OrderPlaced { order_id });
//!     Ok(order_id)
//! }
//! # fn main() { assert_eq!(herald::with_bus(&herald::Bus::disabled(), || checkout(7)), Ok(7)); }
//! ```

// Each macro runs the same passes in one line: `attr` reads the options, `ast` builds
// the model from them and the item, `valid` checks the rules across the model, then
// `expand` generates, or `fallback` writes the errors beside a harmless stand-in.
// `value` reads single option values for `ast`; `syntax` holds the helpers every pass
// shares and imports no other module of the crate.
mod ast;
mod attr;
mod expand;
mod fallback;
mod syntax;
mod valid;
mod value;

use proc_macro::TokenStream;

/// Implements `herald::Event` and registers non-generic types for decoding by name.
///
/// Options, in `#[event(...)]`: `name = "order.placed"` (default: the type name in
/// snake_case), `version = 2` (default 1), `kind = "command" | "notification" | "query"
/// | "response" | "error"`, `response = Type` (queries only), `ttl = "30s"` (`us`, `ms`,
/// `s`, `m`, `h`), `phase = "started"`, `migrate = path::to::fn`.
///
/// ```
/// # #[derive(Clone, serde::Serialize, serde::Deserialize, herald::Event)]
/// # #[event(name = "stock.level", kind = "response")]
/// # struct StockLevel { units: u32 }
/// #[derive(serde::Serialize, serde::Deserialize, herald::Event)]
/// #[event(name = "stock.ask", kind = "query", response = StockLevel)]
/// struct GetStock {
///     sku: String,
/// }
/// # use herald::Event as _;
/// assert_eq!(GetStock::NAME, "stock.ask");
/// ```
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::event::derive(&input).into()
}

/// Subscribes a free function (sync or `async`) to events, registered at link time.
///
/// The first argument names the event type (optional); then `pattern = "order.*"`,
/// `when = path`, `phase = ".."`, `kind = ".."`, `source = ".."`, `priority = 10`,
/// `name = ".."`, `group = ".."`, `retry = 3`, `backoff = "50ms"`, `concurrency = 4`
/// (async only), and `shared` (run once across the processes linked by a transport,
/// instead of once per process). The one parameter is `&T`, `&Envelope<T>` or `&Record`
/// (required when no type is named).
///
/// ```
/// # #[derive(serde::Serialize, serde::Deserialize, herald::Event)]
/// # #[event(name = "order.placed")]
/// # struct OrderPlaced { total_cents: u64 }
/// fn is_large(order: &OrderPlaced) -> bool {
///     order.total_cents > 100_000
/// }
///
/// #[herald::on(OrderPlaced, when = is_large, priority = 10)]
/// async fn notify(order: &herald::Envelope<OrderPlaced>) -> Result<(), String> {
///     let _ = order.payload().total_cents;
///     Ok(())
/// }
/// # fn main() { assert!(herald::subscription!(notify).is_async()); }
/// ```
#[proc_macro_attribute]
pub fn on(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::on::expand(args.into(), item.into()).into()
}

/// Emits `Started` before the body and `Completed`, `Failed` or `Cancelled` after it;
/// everything emitted inside nests under the call.
///
/// Options: `name = "entity.promotion"`, `args`, `args(a, b)`, `skip(a)`, `ret`, `root`,
/// `started = EXPR`, `completed = CLOSURE`, `failed = CLOSURE`.
///
/// ```
/// # #[derive(Debug)] struct PromoteError;
/// #[herald::instrument_events(args, ret)]
/// async fn promote(id: u64) -> Result<u32, PromoteError> {
///     Ok(id as u32 + 1)
/// }
/// # let _ = promote(1);
/// ```
#[proc_macro_attribute]
pub fn instrument_events(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::instrument::expand(args.into(), item.into()).into()
}

/// The `HandlerDescriptor` of an `#[on]` handler, to add it to a bus by hand:
/// `Bus::builder().subscription(herald::subscription!(orders::reserve_stock))`.
#[proc_macro]
pub fn subscription(input: TokenStream) -> TokenStream {
    expand::on::subscription(input.into()).into()
}
