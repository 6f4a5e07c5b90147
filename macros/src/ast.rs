//! The typed models the expanders work from, read from the options (see `attr`) and
//! the item they are on. Each keeps the user's syntax (types, paths, the function item,
//! the options as written) so generated code reuses the user's tokens and spans, and so
//! `valid` can point at what was written.
//!
//! Building a model reports what cannot be read: an item of the wrong shape, a value
//! that means nothing (an unknown kind, a malformed duration). The rules that relate
//! several options, or an option and the item, are checked afterwards by `valid`. A
//! model is built even when something could not be read, so that those rules are
//! checked too and every mistake is reported together.

use darling::error::Accumulator;
use proc_macro2::TokenStream;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, FnArg, Ident, ItemFn, Path, Type};

use crate::attr::{self, EventOptions, InstrumentOptions, OnOptions, ParamSelection};
use crate::syntax::{
    at, has_receiver, param_ident, returns_result, snake_case, strip_type, text_of, unraw,
};
use crate::value;

/// A type deriving `Event`.
pub struct EventDef<'a> {
    /// The type as written.
    pub input: &'a DeriveInput,
    /// The options as written.
    pub options: EventOptions,
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
    /// Reads the type and its `#[event(...)]` options; what cannot be read goes to
    /// `errors`, every mistake, not just the first.
    pub fn from_syn(input: &'a DeriveInput, errors: &mut Accumulator) -> EventDef<'a> {
        read_event_target(input, errors);
        let options = errors
            .handle(attr::parse_event_attrs(&input.attrs))
            .unwrap_or_default();
        let name = match &options.name {
            Some(name) => errors.handle(value::record_name("event", name)),
            None => errors.handle(default_event_name(&input.ident)),
        };
        let version = options
            .version
            .and_then(|v| errors.handle(value::version(v)));
        let kind = options
            .kind
            .as_ref()
            .and_then(|k| errors.handle(value::one_of("kind", value::KINDS, k)));
        let phase = options
            .phase
            .as_ref()
            .and_then(|p| errors.handle(value::one_of("phase", value::PHASES, p)));
        let ttl_nanos = options
            .ttl
            .as_ref()
            .and_then(|t| errors.handle(value::duration("ttl", t)));
        EventDef {
            input,
            name: name.unwrap_or_default(),
            version,
            kind,
            response: options.response.as_ref().map(|r| r.0.clone()),
            ttl_nanos,
            phase,
            migrate: options.migrate.as_ref().map(|m| m.0.clone()),
            options,
        }
    }

    /// Whether the type has generic parameters (lifetimes included).
    pub fn is_generic(&self) -> bool {
        !self.input.generics.params.is_empty()
    }
}

/// What `#[derive(Event)]` may be applied to, and where `#[event]` belongs.
fn read_event_target(input: &DeriveInput, errors: &mut Accumulator) {
    let misplaced = |attrs: &[syn::Attribute], errors: &mut Accumulator, what: &str| {
        for attr in attrs.iter().filter(|a| a.path().is_ident("event")) {
            errors.push(at(
                attr.path().span(),
                format!("`#[event(...)]` goes on the type, not on a {what}"),
            ));
        }
    };
    match &input.data {
        Data::Union(u) => errors.push(at(
            u.union_token.span,
            "`#[derive(Event)]` supports structs and enums, not unions",
        )),
        Data::Struct(s) => {
            for field in &s.fields {
                misplaced(&field.attrs, errors, "field");
            }
        }
        Data::Enum(e) => {
            for variant in &e.variants {
                misplaced(&variant.attrs, errors, "variant");
                for field in &variant.fields {
                    misplaced(&field.attrs, errors, "field");
                }
            }
        }
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

/// Delivery options of an `#[on]` handler: at most `concurrency` invocations in flight
/// (0 = unbounded), `retry` retries `backoff_nanos` apart (doubling).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// `concurrency = N`, 0 when not given.
    pub concurrency: u32,
    /// `retry = N`, 0 when not given.
    pub retry: u32,
    /// `backoff = ".."` in nanoseconds, 0 when not given or not readable (the runtime
    /// default applies).
    pub backoff_nanos: u64,
    /// `shared`: runs once across the processes linked by a transport.
    pub shared: bool,
}

/// A function marked `#[on(...)]`.
pub struct Handler<'a> {
    /// The function as written.
    pub func: &'a ItemFn,
    /// The named arguments as written.
    pub options: OnOptions,
    /// The event type routed on, when named.
    pub event: Option<Type>,
    /// How the function takes the event (`Record` when the signature is not a
    /// handler's).
    pub param: Param,
    /// What the parameter refers to as written (`T`, `Envelope<T>`, `Record`), when the
    /// signature is a handler's.
    pub referent: Option<&'a Type>,
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
    /// `concurrency`, `retry`, `backoff` and `shared`.
    pub delivery: Delivery,
}

impl<'a> Handler<'a> {
    /// Reads the arguments of `#[on]` and the function they are on; what cannot be read
    /// goes to `errors`.
    pub fn from_syn(args: TokenStream, func: &'a ItemFn, errors: &mut Accumulator) -> Handler<'a> {
        let args = attr::parse_on_args(args, errors);
        let options = args.options;
        let referent = read_handler_signature(func, errors);
        let name = options
            .name
            .as_ref()
            .and_then(|n| errors.handle(value::label("subscription name", n)));
        let group = options
            .group
            .as_ref()
            .and_then(|g| errors.handle(value::label("group", g)));
        let pattern = options
            .pattern
            .as_ref()
            .and_then(|p| errors.handle(value::pattern(p)));
        let phase = options
            .phase
            .as_ref()
            .and_then(|p| errors.handle(value::one_of("phase", value::PHASES, p)));
        let kind = options
            .kind
            .as_ref()
            .and_then(|k| errors.handle(value::one_of("kind", value::KINDS, k)));
        let backoff_nanos = options
            .backoff
            .as_ref()
            .and_then(|b| errors.handle(value::duration("backoff", b)));
        let delivery = Delivery {
            concurrency: options.concurrency.map_or(0, |c| c.value),
            retry: options.retry.map_or(0, |r| r.value),
            backoff_nanos: backoff_nanos.unwrap_or(0),
            shared: options.shared.is_some_and(|s| s.0),
        };
        Handler {
            func,
            event: args.event,
            param: referent.map_or(Param::Record, |r| classify(r).0),
            referent,
            name,
            group,
            priority: options.priority.map_or(0, |p| p.value),
            pattern,
            phase,
            kind,
            source: options.source.as_ref().map(|s| s.value.clone()),
            when: options.when.as_ref().map(|w| w.0.clone()),
            delivery,
            options,
        }
    }

    /// Whether the runtime must build a `Record` for this handler: it takes `&Record`,
    /// or its predicate does.
    pub fn wants_record(&self) -> bool {
        self.param == Param::Record || (self.when.is_some() && self.event.is_none())
    }
}

/// Reads a handler's signature: what its one parameter refers to, or None (and the
/// reasons in `errors`) when it is not a handler's signature.
fn read_handler_signature<'f>(func: &'f ItemFn, errors: &mut Accumulator) -> Option<&'f Type> {
    let sig = &func.sig;
    if let Some(constness) = &sig.constness {
        errors.push(at(constness.span, "a handler cannot be a `const fn`"));
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.push(at(unsafety.span, "a handler cannot be an `unsafe fn`"));
    }
    let generic = sig.generics.params.iter().find_map(|p| match p {
        syn::GenericParam::Type(t) => Some(t.ident.span()),
        syn::GenericParam::Const(c) => Some(c.ident.span()),
        syn::GenericParam::Lifetime(_) => None,
    });
    if let Some(span) = generic {
        errors.push(at(
            span,
            "handlers cannot be generic: name the event type instead, as in `#[on(OrderPlaced)]`",
        ));
    }
    if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
        errors.push(at(
            receiver.self_token.span,
            "handlers are free functions: `#[on]` cannot take a `self` receiver",
        ));
        return None;
    }
    let count = sig.inputs.len();
    if count != 1 {
        let (span, found) = match sig.inputs.iter().nth(1) {
            Some(second) => (
                match second {
                    FnArg::Typed(t) => t.pat.span(),
                    FnArg::Receiver(r) => r.self_token.span,
                },
                count.to_string(),
            ),
            None => (sig.paren_token.span.join(), "none".to_owned()),
        };
        errors.push(at(
            span,
            format!("a handler takes exactly one parameter, `&T`, `&Envelope<T>` or `&Record`; this one takes {found}"),
        ));
        return None;
    }
    let Some(FnArg::Typed(arg)) = sig.inputs.first() else {
        return None;
    };
    let Type::Reference(reference) = strip_type(&arg.ty) else {
        let ty = text_of(&arg.ty);
        errors.push(at(
            arg.ty.span(),
            format!(
                "a handler takes its event by reference: `&{ty}`, `&Envelope<{ty}>` or `&Record`"
            ),
        ));
        return None;
    };
    if let Some(mutability) = &reference.mutability {
        errors.push(at(
            mutability.span,
            "a handler takes a shared reference (`&T`), not `&mut T`",
        ));
        return None;
    }
    Some(&reference.elem)
}

/// How a parameter referring to `referent` takes the event, and the payload type when
/// it is written: `Envelope<T>` gives (Envelope, T), `Record` gives Record, anything
/// else is the payload.
pub fn classify(referent: &Type) -> (Param, Option<&Type>) {
    if let Type::Path(p) = strip_type(referent) {
        if let Some(last) = p.path.segments.last() {
            if last.ident == "Record" {
                return (Param::Record, None);
            }
            if last.ident == "Envelope" {
                let inner = match &last.arguments {
                    syn::PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
                        syn::GenericArgument::Type(t) => Some(t),
                        _ => None,
                    }),
                    _ => None,
                };
                return (Param::Envelope, inner);
            }
        }
    }
    (Param::Payload, Some(referent))
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

/// A function marked `#[instrument_events(...)]`.
pub struct Instrumented {
    /// The function as written.
    pub func: ItemFn,
    /// The options as written.
    pub options: InstrumentOptions,
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
    /// Reads the options of `#[instrument_events]` and the function they are on; what
    /// cannot be read goes to `errors`.
    pub fn from_syn(
        options: darling::Result<InstrumentOptions>,
        func: ItemFn,
        errors: &mut Accumulator,
    ) -> Instrumented {
        if let Some(constness) = &func.sig.constness {
            errors.push(at(
                constness.span,
                "`#[instrument_events]` cannot be used on a `const fn`",
            ));
        }
        let options = errors.handle(options).unwrap_or_default();
        let fn_name = unraw(&func.sig.ident);
        let operation = match &options.name {
            Some(name) => errors
                .handle(value::record_name("operation", name))
                .map(Operation::Named),
            None if has_receiver(&func) => Some(Operation::Method(fn_name)),
            None => Some(Operation::Function(fn_name)),
        };
        Instrumented {
            operation: operation.unwrap_or(Operation::Function(String::new())),
            root: options.root.is_present(),
            recorded: selected_params(&func, &options),
            ret: options.ret.is_present(),
            started: options.started.as_ref().map(|e| e.expr.clone()),
            completed: options.completed.as_ref().map(|e| e.expr.clone()),
            failed: options.failed.as_ref().map(|e| e.expr.clone()),
            options,
            func,
        }
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

/// The parameters `args` / `skip` select (the lists are checked against the signature
/// by `valid`).
fn selected_params(func: &ItemFn, options: &InstrumentOptions) -> Vec<Ident> {
    let params = func.sig.inputs.iter().filter_map(param_ident);
    match (options.args.as_deref(), options.skip.as_deref()) {
        (Some(ParamSelection::Only(names)), _) => names.clone(),
        (Some(ParamSelection::All), _) => params.cloned().collect(),
        (None, Some(ParamSelection::Only(skipped))) => {
            params.filter(|p| !skipped.contains(p)).cloned().collect()
        }
        (None, Some(ParamSelection::All)) => params.cloned().collect(),
        (None, None) => Vec::new(),
    }
}
