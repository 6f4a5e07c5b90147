//! The checked models the expanders work from. Each keeps the user's syntax (types,
//! paths, the function item) so generated code reuses the user's tokens and spans.

use darling::Error;
use proc_macro2::TokenStream;
use syn::{DeriveInput, Expr, Ident, ItemFn, Path, Type};

use crate::attr::{self, InstrumentOptions};
use crate::syntax::{at, has_receiver, returns_result, snake_case, unraw};
use crate::{valid, value};

/// A type deriving `Event`, with its options checked.
pub struct EventDef<'a> {
    /// The type as written.
    pub input: &'a DeriveInput,
    /// The record name.
    pub name: String,
    /// `version`, when given.
    pub version: Option<u32>,
    /// The `Kind` variant, when given.
    pub kind: Option<&'static str>,
    /// The query's response type.
    pub response: Option<Type>,
    /// The default time to live, in nanoseconds.
    pub ttl_nanos: Option<u64>,
    /// The `Phase` variant, when given.
    pub phase: Option<&'static str>,
    /// The migration function.
    pub migrate: Option<Path>,
}

impl<'a> EventDef<'a> {
    /// Reads and checks `#[event(...)]`; every mistake is reported, not just the first.
    pub fn from_syn(input: &'a DeriveInput) -> darling::Result<EventDef<'a>> {
        let mut errors = Error::accumulator();
        valid::event_target(input, &mut errors);
        let opts = errors
            .handle(attr::parse_event_attrs(&input.attrs))
            .unwrap_or_default();
        let name = match &opts.name {
            Some(name) => errors.handle(value::record_name("event", name)),
            None => errors.handle(default_event_name(&input.ident)),
        };
        let version = opts.version.and_then(|v| errors.handle(value::version(v)));
        let kind = opts
            .kind
            .as_ref()
            .and_then(|k| errors.handle(value::one_of("kind", value::KINDS, k)));
        let phase = opts
            .phase
            .as_ref()
            .and_then(|p| errors.handle(value::one_of("phase", value::PHASES, p)));
        let ttl_nanos = opts
            .ttl
            .as_ref()
            .and_then(|t| errors.handle(value::duration("ttl", t)));
        valid::event_options(input, &opts, kind, &mut errors);
        errors.finish_with(EventDef {
            input,
            name: name.unwrap_or_default(),
            version,
            kind,
            response: opts.response.map(|r| r.0),
            ttl_nanos,
            phase,
            migrate: opts.migrate.map(|m| m.0),
        })
    }

    /// Whether the type has generic parameters (lifetimes included).
    pub fn is_generic(&self) -> bool {
        !self.input.generics.params.is_empty()
    }
}

fn default_event_name(ident: &Ident) -> darling::Result<String> {
    let name = snake_case(&unraw(ident));
    if value::is_record_name(&name) {
        Ok(name)
    } else {
        Err(at(
            ident.span(),
            format!("the default event name `{name}` (from the type name) is not a valid event name; set one with `#[event(name = \"...\")]`"),
        ))
    }
}

/// How a handler takes its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// `&T`.
    Payload,
    /// `&Envelope<T>`.
    Envelope,
    /// `&Record`.
    Record,
}

/// A function marked `#[on(...)]`, with its arguments checked.
pub struct Handler<'a> {
    /// The function as written.
    pub func: &'a ItemFn,
    /// The event type routed on, when named.
    pub event: Option<Type>,
    /// How the function takes the event.
    pub param: Param,
    /// `name`, when given.
    pub name: Option<String>,
    /// `group`, when given.
    pub group: Option<String>,
    /// `priority` (0 unless given).
    pub priority: i32,
    /// `pattern`, when given.
    pub pattern: Option<String>,
    /// The `Phase` variant of `phase`, when given.
    pub phase: Option<&'static str>,
    /// The `Kind` variant of `kind`, when given.
    pub kind: Option<&'static str>,
    /// `source`, when given.
    pub source: Option<String>,
    /// The `when` predicate, when given.
    pub when: Option<Path>,
    /// `concurrency`, `retry` and `backoff`.
    pub delivery: valid::Delivery,
}

impl<'a> Handler<'a> {
    /// Checks the arguments of `#[on]` and the function they are on together.
    pub fn from_syn(args: TokenStream, func: &'a ItemFn) -> darling::Result<Handler<'a>> {
        let mut errors = Error::accumulator();
        let args = attr::parse_on_args(args, &mut errors);
        let opts = &args.options;
        let param = valid::handler_signature(func, args.event.as_ref(), &mut errors);
        let name = opts
            .name
            .as_ref()
            .and_then(|n| errors.handle(value::label("subscription name", n)));
        let group = opts
            .group
            .as_ref()
            .and_then(|g| errors.handle(value::label("group", g)));
        let pattern = opts
            .pattern
            .as_ref()
            .and_then(|p| errors.handle(value::pattern(p)));
        let phase = opts
            .phase
            .as_ref()
            .and_then(|p| errors.handle(value::one_of("phase", value::PHASES, p)));
        let kind = opts
            .kind
            .as_ref()
            .and_then(|k| errors.handle(value::one_of("kind", value::KINDS, k)));
        let delivery = valid::handler_options(func, opts, &mut errors);
        errors.finish_with(Handler {
            func,
            event: args.event,
            param: param.unwrap_or(Param::Record),
            name,
            group,
            priority: opts.priority.map_or(0, |p| p.value),
            pattern,
            phase,
            kind,
            source: opts.source.as_ref().map(|s| s.value.clone()),
            when: opts.when.as_ref().map(|w| w.0.clone()),
            delivery,
        })
    }

    /// Whether the runtime must build a `Record` for this handler: it takes `&Record`,
    /// or its predicate does.
    pub fn wants_record(&self) -> bool {
        self.param == Param::Record || (self.when.is_some() && self.event.is_none())
    }
}

/// How an instrumented call names its operation.
pub enum Operation {
    /// `name = ".."`.
    Named(String),
    /// A method: `{type_snake}.{method}`, computed at run time from `Self`.
    Method(String),
    /// A free or associated function without a receiver: its name.
    Function(String),
}

/// A function marked `#[instrument_events(...)]`, with its options checked.
pub struct Instrumented {
    /// The function as written.
    pub func: ItemFn,
    /// Its operation name.
    pub operation: Operation,
    /// `root`.
    pub root: bool,
    /// The parameters recorded in `Started`.
    pub recorded: Vec<Ident>,
    /// `ret`.
    pub ret: bool,
    /// `started = EXPR`.
    pub started: Option<Expr>,
    /// `completed = CLOSURE`.
    pub completed: Option<Expr>,
    /// `failed = CLOSURE`.
    pub failed: Option<Expr>,
}

impl Instrumented {
    /// Checks the options of `#[instrument_events]` against the function.
    pub fn from_syn(
        opts: darling::Result<InstrumentOptions>,
        func: ItemFn,
    ) -> darling::Result<Instrumented> {
        let mut errors = Error::accumulator();
        valid::instrument_target(&func, &mut errors);
        let opts = errors.handle(opts).unwrap_or_default();
        let fn_name = unraw(&func.sig.ident);
        let operation = match &opts.name {
            Some(name) => errors
                .handle(value::record_name("operation", name))
                .map(Operation::Named),
            None if has_receiver(&func) => Some(Operation::Method(fn_name)),
            None => Some(Operation::Function(fn_name)),
        };
        let recorded = valid::recorded_params(&func, &opts, &mut errors);
        valid::instrument_options(&func, &opts, &mut errors);
        errors.finish_with(Instrumented {
            operation: operation.unwrap_or(Operation::Function(String::new())),
            root: opts.root.is_present(),
            recorded,
            ret: opts.ret.is_present(),
            started: opts.started.map(|e| e.expr),
            completed: opts.completed.map(|e| e.expr),
            failed: opts.failed.map(|e| e.expr),
            func,
        })
    }

    /// Whether the function has a `self` receiver.
    pub fn has_receiver(&self) -> bool {
        has_receiver(&self.func)
    }

    /// Whether the return type is syntactically a `Result` (last path segment).
    pub fn returns_result(&self) -> bool {
        returns_result(&self.func.sig.output)
    }
}
