//! What each macro accepts, read with darling: the option receivers and the literal
//! types they are made of.
//!
//! The value types here are strict about the kind of literal they take (a string where
//! a string belongs, an integer where an integer belongs) and remember where they were
//! written, so later checks can point at the exact token.

use darling::ast::NestedMeta;
use darling::error::Accumulator;
use darling::util::{Flag, SpannedValue};
use darling::{Error, FromMeta};
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, Meta, Path, Token, Type, UnOp};

use crate::syntax::text_of;

/// The options of `#[event(...)]`, read from every `#[event]` attribute of the type
/// (see [`parse_event_attrs`]).
#[derive(Debug, Default, FromMeta)]
pub struct EventOptions {
    /// `name = "order.placed"`.
    pub name: Option<Str>,
    /// `version = 2`.
    pub version: Option<Int<u32>>,
    /// `kind = "command"`.
    pub kind: Option<Str>,
    /// `response = Type` (queries only).
    pub response: Option<TypeValue>,
    /// `ttl = "30s"`.
    pub ttl: Option<Str>,
    /// `phase = "started"`.
    pub phase: Option<Str>,
    /// `migrate = path::to::fn`.
    pub migrate: Option<PathValue>,
}

/// The named arguments of `#[on(...)]` (the positional event type is read apart, see
/// [`parse_on_args`]).
#[derive(Debug, Default, FromMeta)]
pub struct OnOptions {
    /// `pattern = "order.*"`.
    pub pattern: Option<Str>,
    /// `when = path::to::predicate`.
    pub when: Option<PathValue>,
    /// `phase = "failed"`.
    pub phase: Option<Str>,
    /// `kind = "command"`.
    pub kind: Option<Str>,
    /// `source = "checkout"`.
    pub source: Option<Str>,
    /// `priority = 10`.
    pub priority: Option<Int<i32>>,
    /// `name = "..."`.
    pub name: Option<Str>,
    /// `group = "..."`.
    pub group: Option<Str>,
    /// `concurrency = 4` (async handlers only).
    pub concurrency: Option<Int<u32>>,
    /// `retry = 3`.
    pub retry: Option<Int<u32>>,
    /// `backoff = "50ms"`.
    pub backoff: Option<Str>,
    /// `shared` or `shared = true`: once across the processes of a transport.
    pub shared: Option<Switch>,
}

/// Everything `#[on(...)]` was given.
#[derive(Debug, Default)]
pub struct OnArgs {
    /// The positional event type, when one is named.
    pub event: Option<Type>,
    /// The named arguments.
    pub options: OnOptions,
}

/// The options of `#[instrument_events(...)]`.
#[derive(Debug, Default, FromMeta)]
pub struct InstrumentOptions {
    /// `name = "entity.promotion"`.
    pub name: Option<Str>,
    /// `args` or `args(a, b)`.
    pub args: Option<SpannedValue<ParamSelection>>,
    /// `skip(a, b)`.
    pub skip: Option<SpannedValue<ParamSelection>>,
    /// `ret`.
    pub ret: Flag,
    /// `root`.
    pub root: Flag,
    /// `started = EXPR`.
    pub started: Option<ExprValue>,
    /// `completed = CLOSURE`.
    pub completed: Option<ExprValue>,
    /// `failed = CLOSURE`.
    pub failed: Option<ExprValue>,
}

/// An option that is on when written alone (`shared`) or set with a bool literal
/// (`shared = true`).
#[derive(Clone, Copy, Debug)]
pub struct Switch(pub bool);

impl FromMeta for Switch {
    fn from_word() -> darling::Result<Self> {
        Ok(Switch(true))
    }

    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match strip_group(expr) {
            Expr::Lit(ExprLit {
                lit: Lit::Bool(b), ..
            }) => Ok(Switch(b.value)),
            other => Err(Error::custom(
                "expected `true` or `false` (or the word alone, meaning `true`)",
            )
            .with_span(other)),
        }
    }
}

/// A string literal and the span of the literal.
#[derive(Clone, Debug)]
pub struct Str {
    /// The literal's value.
    pub value: String,
    /// Where it was written.
    pub span: Span,
}

impl FromMeta for Str {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match strip_group(expr) {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(Str {
                value: s.value(),
                span: s.span(),
            }),
            other => Err(Error::custom(format!(
                "expected a string literal, found {}",
                describe(other)
            ))
            .with_span(other)),
        }
    }

    fn from_word() -> darling::Result<Self> {
        Err(Error::custom("expected a string value: `= \"...\"`"))
    }

    fn from_list(_: &[NestedMeta]) -> darling::Result<Self> {
        Err(Error::custom(
            "expected a string value: `= \"...\"`, not a list",
        ))
    }
}

/// An integer literal (negative when `T` is signed), the span of the literal and the
/// span of the option name before it.
#[derive(Clone, Copy, Debug)]
pub struct Int<T> {
    /// The literal's value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
    /// Where the option's name was written.
    pub key: Span,
}

impl<T> FromMeta for Int<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        with_key(item, Self::from_expr, |v, key| Int { key, ..v })
    }

    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        let (digits, lit) = match strip_group(expr) {
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => (i.base10_digits().to_owned(), i),
            Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => match strip_group(&u.expr) {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(i), ..
                }) => (format!("-{}", i.base10_digits()), i),
                other => return Err(not_an_integer(other).with_span(expr)),
            },
            other => return Err(not_an_integer(other).with_span(other)),
        };
        if !lit.suffix().is_empty() {
            return Err(
                Error::custom("expected an integer literal without a type suffix").with_span(lit),
            );
        }
        match digits.parse::<T>() {
            Ok(value) => Ok(Int {
                value,
                span: expr.span(),
                key: expr.span(),
            }),
            Err(e) => {
                Err(Error::custom(format!("invalid integer `{digits}`: {e}")).with_span(expr))
            }
        }
    }

    fn from_word() -> darling::Result<Self> {
        Err(Error::custom("expected an integer value: `= 1`"))
    }

    fn from_list(_: &[NestedMeta]) -> darling::Result<Self> {
        Err(Error::custom(
            "expected an integer value: `= 1`, not a list",
        ))
    }
}

/// Reads `name = value` with `read`, then records the span of `name` with `set_key`.
fn with_key<T: FromMeta>(
    item: &Meta,
    read: impl FnOnce(&Expr) -> darling::Result<T>,
    set_key: impl FnOnce(T, Span) -> T,
) -> darling::Result<T> {
    match item {
        Meta::NameValue(nv) => read(&nv.value).map(|v| set_key(v, nv.path.span())),
        Meta::Path(_) => T::from_word(),
        Meta::List(list) => T::from_list(&NestedMeta::parse_meta_list(list.tokens.clone())?),
    }
    .map_err(|e| e.with_span(item))
}

fn not_an_integer(found: &Expr) -> Error {
    let hint = match found {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => format!("; write it without quotes: `{}`", s.value()),
        _ => String::new(),
    };
    Error::custom(format!(
        "expected an integer literal, found {}{hint}",
        describe(found)
    ))
}

/// A path to a function, such as `orders::is_large`.
#[derive(Clone, Debug)]
pub struct PathValue(pub Path);

impl FromMeta for PathValue {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match strip_group(expr) {
            Expr::Path(p) if p.qself.is_none() => Ok(PathValue(p.path.clone())),
            other => Err(Error::custom(format!(
                "expected a path to a function, such as `checks::is_large`, found {}",
                describe(other)
            ))
            .with_span(other)),
        }
    }

    fn from_word() -> darling::Result<Self> {
        Err(Error::custom(
            "expected a path to a function: `= checks::is_large`",
        ))
    }
}

/// A type, written as a path (`OrderStatus`) or, for types a path cannot spell, as a
/// string (`"Vec<u8>"`).
#[derive(Clone, Debug)]
pub struct TypeValue(pub Type);

impl FromMeta for TypeValue {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match strip_group(expr) {
            Expr::Path(p) => Ok(TypeValue(Type::Path(syn::TypePath {
                qself: p.qself.clone(),
                path: p.path.clone(),
            }))),
            Expr::Verbatim(tokens) => syn::parse2::<Type>(tokens.clone())
                .map(TypeValue)
                .map_err(|e| Error::custom(format!("expected a type: {e}")).with_span(tokens)),
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => s
                .parse::<Type>()
                .map(TypeValue)
                .map_err(|e| Error::custom(format!("expected a type: {e}")).with_span(s)),
            other => Err(
                Error::custom(format!("expected a type, found {}", describe(other)))
                    .with_span(other),
            ),
        }
    }

    fn from_word() -> darling::Result<Self> {
        Err(Error::custom("expected a type: `= OrderStatus`"))
    }
}

/// An expression, taken as written (a string literal stays a string literal), and the
/// span of the option name before it.
#[derive(Clone, Debug)]
pub struct ExprValue {
    /// The expression.
    pub expr: Expr,
    /// Where the option's name was written.
    pub key: Span,
}

impl FromMeta for ExprValue {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        with_key(item, Self::from_expr, |v, key| ExprValue { key, ..v })
    }

    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        Ok(ExprValue {
            expr: expr.clone(),
            key: expr.span(),
        })
    }

    fn from_word() -> darling::Result<Self> {
        Err(Error::custom("expected an expression: `= ...`"))
    }
}

/// `args` (every parameter) or `args(a, b)` / `skip(a, b)` (the named ones).
#[derive(Clone, Debug)]
pub enum ParamSelection {
    /// The bare word: every parameter.
    All,
    /// The listed parameters.
    Only(Vec<syn::Ident>),
}

impl FromMeta for ParamSelection {
    fn from_word() -> darling::Result<Self> {
        Ok(ParamSelection::All)
    }

    fn from_list(items: &[NestedMeta]) -> darling::Result<Self> {
        let mut errors = Error::accumulator();
        let mut names = Vec::new();
        for item in items {
            match item {
                NestedMeta::Meta(Meta::Path(p)) if p.get_ident().is_some() => {
                    names.extend(p.get_ident().cloned());
                }
                other => errors.push(Error::custom("expected a parameter name").with_span(other)),
            }
        }
        errors.finish_with(ParamSelection::Only(names))
    }

    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        Err(Error::custom("expected a list of parameter names: `(a, b)`").with_span(expr))
    }
}

/// Reads `#[on(...)]`: an optional event type first, then `name = value` arguments.
/// Mistakes go to `errors`; what could be read is returned all the same, so that the
/// event type is known even when an argument is wrong.
pub fn parse_on_args(tokens: TokenStream, errors: &mut Accumulator) -> OnArgs {
    let Some((mut event, items)) = errors.handle(split_on_args.parse2(tokens).map_err(Error::from))
    else {
        return OnArgs::default();
    };
    let mut named = Vec::with_capacity(items.len());
    for item in items {
        match &item {
            NestedMeta::Meta(Meta::Path(p)) if event.is_none() && !is_on_option(p) => {
                let written = text_of(p);
                errors.push(
                    Error::custom(format!(
                        "the event type goes first: `#[on({written}, ...)]`"
                    ))
                    .with_span(p),
                );
                event = Some(Type::Path(syn::TypePath {
                    qself: None,
                    path: p.clone(),
                }));
            }
            _ => named.push(item),
        }
    }
    let options = errors
        .handle(OnOptions::from_list(&named))
        .unwrap_or_default();
    OnArgs { event, options }
}

fn is_on_option(path: &Path) -> bool {
    path.get_ident()
        .is_some_and(|i| ON_OPTIONS.iter().any(|o| i == o))
}

/// The argument names `#[on]` accepts.
const ON_OPTIONS: &[&str] = &[
    "pattern",
    "when",
    "phase",
    "kind",
    "source",
    "priority",
    "name",
    "group",
    "concurrency",
    "retry",
    "backoff",
    "shared",
];

/// Whether the input starts with an option word standing alone (`shared, ...`).
fn bare_option(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    fork.call(syn::Ident::parse_any).is_ok_and(|i| {
        ON_OPTIONS.iter().any(|o| i == o) && (fork.is_empty() || fork.peek(Token![,]))
    })
}

fn split_on_args(input: ParseStream<'_>) -> syn::Result<(Option<Type>, Vec<NestedMeta>)> {
    let mut event = None;
    let named_first = input.peek(syn::Ident::peek_any)
        && (input.peek2(Token![=]) || input.peek2(syn::token::Paren) || bare_option(input));
    if !input.is_empty() && !named_first && !input.peek(Lit) {
        event = Some(input.parse::<Type>()?);
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
    }
    Ok((event, option_list(input, &[])?))
}

/// Reads `#[instrument_events(...)]`.
pub fn parse_instrument_args(tokens: TokenStream) -> darling::Result<InstrumentOptions> {
    let items = (|input: ParseStream<'_>| option_list(input, &[])).parse2(tokens)?;
    InstrumentOptions::from_list(&items)
}

/// Reads every `#[event(...)]` attribute of a type.
pub fn parse_event_attrs(attrs: &[syn::Attribute]) -> darling::Result<EventOptions> {
    let mut errors = Error::accumulator();
    let mut items = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("event")) {
        match &attr.meta {
            Meta::List(list) => {
                let parsed = (|input: ParseStream<'_>| option_list(input, &["response"]))
                    .parse2(list.tokens.clone());
                if let Some(parsed) = errors.handle(parsed.map_err(Error::from)) {
                    items.extend(parsed);
                }
            }
            other => errors.push(
                Error::custom("expected options in parentheses: `#[event(name = \"...\")]`")
                    .with_span(other),
            ),
        }
    }
    let options = errors
        .handle(EventOptions::from_list(&items))
        .unwrap_or_default();
    errors.finish_with(options)
}

/// A comma-separated list of `word`, `name = value` and `name(..)` items, the way
/// darling reads them, except that the values of `type_keys` are read as types, so
/// `response = Answer<u32>` needs no quotes.
fn option_list(input: ParseStream<'_>, type_keys: &[&str]) -> syn::Result<Vec<NestedMeta>> {
    let mut items = Vec::new();
    while !input.is_empty() {
        if input.peek(Lit) {
            items.push(NestedMeta::Lit(input.parse()?));
        } else {
            let path = input.call(Path::parse_mod_style)?;
            let meta = if input.peek(Token![=]) {
                let eq_token = input.parse::<Token![=]>()?;
                let value = if path
                    .get_ident()
                    .is_some_and(|i| type_keys.iter().any(|k| i == k))
                    && !input.peek(Lit)
                {
                    Expr::Verbatim(input.parse::<Type>()?.into_token_stream())
                } else {
                    input.parse::<Expr>()?
                };
                Meta::NameValue(syn::MetaNameValue {
                    path,
                    eq_token,
                    value,
                })
            } else if input.peek(syn::token::Paren) {
                let content;
                let delimiter = syn::MacroDelimiter::Paren(syn::parenthesized!(content in input));
                Meta::List(syn::MetaList {
                    path,
                    delimiter,
                    tokens: content.parse()?,
                })
            } else {
                Meta::Path(path)
            };
            items.push(NestedMeta::Meta(meta));
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(items)
}

fn strip_group(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(g) => strip_group(&g.expr),
        other => other,
    }
}

/// "a string", "an integer", ... for messages.
fn describe(expr: &Expr) -> &'static str {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Str(_) => "a string",
            Lit::Int(_) => "an integer",
            Lit::Float(_) => "a float",
            Lit::Bool(_) => "a boolean",
            Lit::Char(_) => "a character",
            Lit::ByteStr(_) | Lit::CStr(_) => "a byte string",
            Lit::Byte(_) => "a byte",
            _ => "a literal",
        },
        Expr::Path(_) => "a path",
        Expr::Unary(_) => "a unary expression",
        Expr::Closure(_) => "a closure",
        Expr::Call(_) | Expr::MethodCall(_) => "a call",
        _ => "an expression",
    }
}
