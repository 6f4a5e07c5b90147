//! Rules on combinations of options and on the items they are on, each with a message
//! that says what is wrong and what to write instead.

use darling::error::Accumulator;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, FnArg, Ident, ItemFn, ReturnType, Type};

use crate::ast::Param;
use crate::attr::{EventOptions, InstrumentOptions, OnOptions, ParamSelection};
use crate::syntax::{at, param_ident, returns_result, strip_type, text_of};
use crate::value::duration;

/// What `#[derive(Event)]` may be applied to, and where `#[event]` belongs.
pub fn event_target(input: &DeriveInput, errors: &mut Accumulator) {
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

/// Rules across `#[event]` options.
pub fn event_options(
    input: &DeriveInput,
    opts: &EventOptions,
    kind: Option<&str>,
    errors: &mut Accumulator,
) {
    if let Some(response) = &opts.response {
        if kind != Some("Query") {
            let now = match &opts.kind {
                Some(k) => format!(", but this event's kind is `{}`", k.value),
                None => "; add `kind = \"query\"`".to_owned(),
            };
            errors.push(at(
                response.0.span(),
                format!("`response` applies to queries only{now}"),
            ));
        }
    }
    if let Some(migrate) = &opts.migrate {
        if !input.generics.params.is_empty() {
            errors.push(at(
                migrate.0.span(),
                "`migrate` needs a non-generic event type: generic types are not registered for decoding",
            ));
        }
    }
}

/// Checks a handler's signature and finds how it takes its event.
pub fn handler_signature(
    func: &ItemFn,
    event: Option<&Type>,
    errors: &mut Accumulator,
) -> Option<Param> {
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
    let (param, payload) = classify(&reference.elem);
    if event.is_none() && param != Param::Record {
        let named = payload.map_or_else(|| "OrderPlaced".to_owned(), text_of);
        errors.push(at(
            reference.elem.span(),
            format!("no event type is named in `#[on]`, so the handler must take `&Record`; to take this parameter, name the type: `#[on({named})]`"),
        ));
        return None;
    }
    Some(param)
}

/// `Envelope<T>` gives (Envelope, T), `Record` gives Record, anything else is the payload.
fn classify(referent: &Type) -> (Param, Option<&Type>) {
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

/// Delivery options of an `#[on]` handler: at most `concurrency` invocations in flight
/// (0 = unbounded), `retry` retries `backoff_nanos` apart (doubling).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// `concurrency = N`, 0 when not given.
    pub concurrency: u32,
    /// `retry = N`, 0 when not given.
    pub retry: u32,
    /// `backoff = ".."` in nanoseconds, 0 when not given (the runtime default applies).
    pub backoff_nanos: u64,
    /// `shared`: runs once across the processes linked by a transport.
    pub shared: bool,
}

/// Rules across the delivery arguments of `#[on]`.
pub fn handler_options(func: &ItemFn, opts: &OnOptions, errors: &mut Accumulator) -> Delivery {
    let mut delivery = Delivery {
        shared: opts.shared.is_some_and(|s| s.0),
        ..Delivery::default()
    };
    if let Some(concurrency) = opts.concurrency {
        if func.sig.asyncness.is_none() {
            errors.push(at(
                concurrency.key,
                "`concurrency` applies to async handlers only",
            ));
        } else if concurrency.value == 0 {
            errors.push(at(concurrency.span, "`concurrency` must be at least 1"));
        } else {
            delivery.concurrency = concurrency.value;
        }
    }
    if let Some(retry) = opts.retry {
        delivery.retry = retry.value;
    }
    if let Some(backoff) = &opts.backoff {
        if let Some(nanos) = errors.handle(duration("backoff", backoff)) {
            if opts.retry.is_none() {
                errors.push(at(
                    backoff.span,
                    "`backoff` needs `retry = N`: it is the wait before the first retry",
                ));
            }
            delivery.backoff_nanos = nanos;
        }
    }
    delivery
}

/// What `#[instrument_events]` may be applied to.
pub fn instrument_target(func: &ItemFn, errors: &mut Accumulator) {
    if let Some(constness) = &func.sig.constness {
        errors.push(at(
            constness.span,
            "`#[instrument_events]` cannot be used on a `const fn`",
        ));
    }
}

/// The parameters `args` / `skip` select, each checked against the signature.
pub fn recorded_params(
    func: &ItemFn,
    opts: &InstrumentOptions,
    errors: &mut Accumulator,
) -> Vec<Ident> {
    let params: Vec<&Ident> = func.sig.inputs.iter().filter_map(param_ident).collect();
    let check = |names: &[Ident], option: &str, errors: &mut Accumulator| {
        for (i, name) in names.iter().enumerate() {
            if !params.contains(&name) {
                errors.push(at(
                    name.span(),
                    format!(
                        "`{option}({name})`: `{}` has no parameter named `{name}`",
                        func.sig.ident
                    ),
                ));
            } else if names[..i].contains(name) {
                errors.push(at(name.span(), format!("`{name}` is listed twice")));
            }
        }
    };
    let skipped = match opts.skip.as_ref().map(|s| (&**s, s.span())) {
        None => Vec::new(),
        Some((ParamSelection::All, span)) => {
            errors.push(at(span, "`skip` takes a list of parameters: `skip(a, b)`"));
            Vec::new()
        }
        Some((ParamSelection::Only(names), span)) => {
            if let Some(ParamSelection::Only(_)) = opts.args.as_deref() {
                errors.push(at(span, "use `args(..)` to list the parameters to record or `skip(..)` to list the ones not to, not both"));
            }
            check(names, "skip", errors);
            names.clone()
        }
    };
    match opts.args.as_deref() {
        Some(ParamSelection::Only(names)) => {
            check(names, "args", errors);
            names.clone()
        }
        Some(ParamSelection::All) => params.into_iter().cloned().collect(),
        None if opts.skip.is_some() => params
            .into_iter()
            .filter(|p| !skipped.contains(p))
            .cloned()
            .collect(),
        None => Vec::new(),
    }
}

/// Rules across `#[instrument_events]` options.
pub fn instrument_options(func: &ItemFn, opts: &InstrumentOptions, errors: &mut Accumulator) {
    if opts.started.is_some() {
        for selection in [&opts.args, &opts.skip].into_iter().flatten() {
            errors.push(at(
                selection.span(),
                "arguments are recorded in the default `Started` event, which `started = ..` replaces; put them in your event instead",
            ));
        }
    }
    if opts.ret.is_present() && opts.completed.is_some() {
        errors.push(at(
            opts.ret.span(),
            "`ret` records the return value in the default `Completed` event, which `completed = ..` replaces; put it in your event instead",
        ));
    }
    if let Some(failed) = &opts.failed {
        if !returns_result(&func.sig.output) {
            let returns = match &func.sig.output {
                ReturnType::Default => "returns `()`".to_owned(),
                ReturnType::Type(_, ty) => format!("returns `{}`", text_of(ty)),
            };
            errors.push(at(
                failed.key,
                format!(
                    "`failed = ..` applies to functions that return `Result`; `{}` {returns}",
                    func.sig.ident
                ),
            ));
        }
    }
}
