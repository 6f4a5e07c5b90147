//! The checked models the expanders work from. Each keeps the user's syntax (types,
//! paths, the function item) so generated code reuses the user's tokens and spans.

use darling::Error;
use proc_macro2::TokenStream;
use syn::{DeriveInput, Expr, FnArg, Ident, ItemFn, Pat, Path, ReturnType, Type};

use crate::attr::{self, InstrumentOptions};
use crate::valid;

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
            Some(name) => errors.handle(valid::record_name("event", name)),
            None => errors.handle(default_event_name(&input.ident)),
        };
        let version = opts.version.and_then(|v| errors.handle(valid::version(v)));
        let kind = opts
            .kind
            .as_ref()
            .and_then(|k| errors.handle(valid::one_of("kind", valid::KINDS, k)));
        let phase = opts
            .phase
            .as_ref()
            .and_then(|p| errors.handle(valid::one_of("phase", valid::PHASES, p)));
        let ttl_nanos = opts
            .ttl
            .as_ref()
            .and_then(|t| errors.handle(valid::duration("ttl", t)));
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

/// `OrderPlaced` gives `order_placed`, `HTTPServer` gives `http_server`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if i > 0
                && (prev_lower || (next_lower && chars[i - 1].is_uppercase()))
                && !out.ends_with('_')
            {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The ident without a leading `r#`.
pub fn unraw(ident: &Ident) -> String {
    let text = ident.to_string();
    match text.strip_prefix("r#") {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

fn default_event_name(ident: &Ident) -> darling::Result<String> {
    let name = snake_case(&unraw(ident));
    if valid::is_record_name(&name) {
        Ok(name)
    } else {
        Err(valid::at(
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
            .and_then(|n| errors.handle(valid::label("subscription name", n)));
        let group = opts
            .group
            .as_ref()
            .and_then(|g| errors.handle(valid::label("group", g)));
        let pattern = opts
            .pattern
            .as_ref()
            .and_then(|p| errors.handle(valid::pattern(p)));
        let phase = opts
            .phase
            .as_ref()
            .and_then(|p| errors.handle(valid::one_of("phase", valid::PHASES, p)));
        let kind = opts
            .kind
            .as_ref()
            .and_then(|k| errors.handle(valid::one_of("kind", valid::KINDS, k)));
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
                .handle(valid::record_name("operation", name))
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

fn has_receiver(func: &ItemFn) -> bool {
    matches!(func.sig.inputs.first(), Some(FnArg::Receiver(_)))
}

/// Whether `output` is `-> Result<..>`, `-> io::Result<..>`, ... (by last path segment).
pub fn returns_result(output: &ReturnType) -> bool {
    match output {
        ReturnType::Type(_, ty) => match strip_type(ty) {
            Type::Path(p) if p.qself.is_none() => {
                p.path.segments.last().is_some_and(|s| s.ident == "Result")
            }
            _ => false,
        },
        ReturnType::Default => false,
    }
}

/// The type without parentheses or invisible groups.
pub fn strip_type(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => strip_type(&p.elem),
        Type::Group(g) => strip_type(&g.elem),
        other => other,
    }
}

/// The name of a parameter bound by a plain identifier pattern (`a`, `mut a`).
pub fn param_ident(arg: &FnArg) -> Option<&Ident> {
    match arg {
        FnArg::Typed(t) => match &*t.pat {
            Pat::Ident(p) if p.subpat.is_none() => Some(&p.ident),
            _ => None,
        },
        FnArg::Receiver(_) => None,
    }
}

/// Whether `ty` mentions `impl Trait`, `_`, `!` or a macro, which a turbofish or a
/// `let` type cannot spell on stable.
pub fn unnameable(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
        fn visit_type_infer(&mut self, _: &'ast syn::TypeInfer) {
            self.0 = true;
        }
        fn visit_type_macro(&mut self, _: &'ast syn::TypeMacro) {
            self.0 = true;
        }
        fn visit_type_never(&mut self, _: &'ast syn::TypeNever) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    syn::visit::visit_type(&mut finder, ty);
    finder.0
}

/// A type or path as a user would write it, for messages: `Vec<u8>`, `&Record`.
pub fn text_of<T: quote::ToTokens>(node: &T) -> String {
    let raw = node.to_token_stream().to_string();
    let mut out = raw
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&");
    if out.starts_with(":: ") {
        out = out.replacen(":: ", "::", 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_cases_type_names() {
        assert_eq!(snake_case("OrderPlaced"), "order_placed");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("Store2"), "store2");
        assert_eq!(snake_case("Ping"), "ping");
    }
}
