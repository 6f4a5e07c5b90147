//! The `HandlerDescriptor` constant an `#[on]` handler is known by, written in this one
//! place for a handler and for the stand-in emitted beside its errors.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, Path, Type};

use crate::ast::Delivery;
use crate::syntax::unraw;

/// The name of the descriptor constant for the handler `ident`, which
/// `subscription!(path::to::ident)` names.
pub fn const_ident(ident: &Ident, span: Span) -> Ident {
    format_ident!("__herald_subscription_{}", unraw(ident), span = span)
}

/// What a descriptor routes on and how it delivers; the default is a handler with no
/// options.
#[derive(Default)]
pub struct Fields<'a> {
    /// `name`, when given (else the function's path).
    pub name: Option<&'a str>,
    /// `group`, when given (else `"default"`).
    pub group: Option<&'a str>,
    /// `priority`.
    pub priority: i32,
    /// The event type routed on, when named.
    pub event: Option<&'a Type>,
    /// `pattern`, when given.
    pub pattern: Option<&'a str>,
    /// The `Phase` variant of `phase`, when given.
    pub phase: Option<&'static str>,
    /// The `Kind` variant of `kind`, when given.
    pub kind: Option<&'static str>,
    /// `source`, when given.
    pub source: Option<&'a str>,
    /// The `when` predicate, when given.
    pub when: Option<&'a Path>,
    /// Whether the runtime must build a `Record` for the handler.
    pub wants_record: bool,
    /// `concurrency`, `retry`, `backoff` and `shared`.
    pub delivery: Delivery,
}

/// A `HandlerDescriptor` constant for the handler `func`.
pub struct Descriptor<'a> {
    /// The handler as written: the constant takes its visibility and name.
    pub func: &'a ItemFn,
    /// The constant's name (see [`const_ident`]).
    pub konst: Ident,
    /// Whether the constant is submitted to the link-time registry (the stand-in
    /// beside errors is not, and may go unused).
    pub registered: bool,
    /// The item `fn __herald_call(..)` the descriptor calls.
    pub call_fn: TokenStream,
    /// Whether `__herald_call` returns a future.
    pub is_async: bool,
    /// What it routes on and how it delivers.
    pub fields: Fields<'a>,
}

impl Descriptor<'_> {
    /// The constant, beside its registration when it is registered.
    pub fn constant(&self) -> TokenStream {
        let f = &self.fields;
        let vis = &self.func.vis;
        let konst = &self.konst;
        let fn_name = unraw(&self.func.sig.ident);
        let some = quote!(::core::option::Option::Some);
        let none = quote!(::core::option::Option::None);

        let name = match f.name {
            Some(name) => quote!(#name),
            None => quote!(::core::concat!(::core::module_path!(), "::", #fn_name)),
        };
        let group = f.group.unwrap_or("default");
        let priority = f.priority;
        let event = match f.event {
            Some(ty) => {
                let key = quote_spanned!(ty.span()=> ::herald::__private::EventKey::of::<#ty>);
                quote!(#some(#key()))
            }
            None => none.clone(),
        };
        let pattern = f
            .pattern
            .map_or_else(|| none.clone(), |p| quote!(#some(#p)));
        let phase = f.phase.map_or_else(
            || none.clone(),
            |p| {
                let p = format_ident!("{}", p);
                quote!(#some(::herald::__private::Phase::#p))
            },
        );
        let kind = f.kind.map_or_else(
            || none.clone(),
            |k| {
                let k = format_ident!("{}", k);
                quote!(#some(::herald::__private::Kind::#k))
            },
        );
        let source = f.source.map_or_else(|| none.clone(), |s| quote!(#some(#s)));
        let (when_fn, when) = match f.when {
            Some(path) => {
                let check = match f.event {
                    Some(ty) => {
                        quote!(::herald::__private::when_typed::<#ty>(__herald_input, #path))
                    }
                    None => quote!(::herald::__private::when_record(__herald_input, #path)),
                };
                let when_fn = quote! {
                    fn __herald_when(__herald_input: ::herald::__private::HandlerInput<'_>) -> ::core::primitive::bool {
                        #check
                    }
                };
                (when_fn, quote!(#some(__herald_when)))
            }
            None => (TokenStream::new(), none.clone()),
        };
        let wants_record = f.wants_record;
        let Delivery {
            concurrency,
            retry,
            backoff_nanos: backoff,
            shared,
        } = f.delivery;
        let call_fn = &self.call_fn;
        let call = if self.is_async {
            quote!(::herald::__private::HandlerCall::Async(__herald_call))
        } else {
            quote!(::herald::__private::HandlerCall::Sync(__herald_call))
        };
        let (allow, register) = if self.registered {
            (
                quote!(#[allow(non_upper_case_globals)]),
                quote!(::herald::__private::inventory::submit! { #konst }),
            )
        } else {
            (
                quote!(#[allow(non_upper_case_globals, dead_code)]),
                TokenStream::new(),
            )
        };

        quote! {
            #[doc(hidden)]
            #allow
            #vis const #konst: ::herald::__private::HandlerDescriptor = {
                #call_fn
                #when_fn
                ::herald::__private::HandlerDescriptor {
                    name: #name,
                    group: #group,
                    priority: #priority,
                    event: #event,
                    pattern: #pattern,
                    phase: #phase,
                    kind: #kind,
                    source: #source,
                    when: #when,
                    wants_record: #wants_record,
                    concurrency: #concurrency,
                    retry: #retry,
                    backoff: ::core::time::Duration::from_nanos(#backoff),
                    shared: #shared,
                    call: #call,
                }
            };
            #register
        }
    }
}
