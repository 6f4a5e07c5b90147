//! `#[instrument_events(...)]`: keeps the signature and wraps the body so that it runs
//! inside a `Call` that emits the started and closing events.
//!
//! The user's body stays one block of its own: a `move` closure for sync functions, an
//! `async move` block for async ones. Both have the function's return type (named in a
//! turbofish, or pinned by a never-run typed `return`), so `?`, `return` and coercions
//! in the body behave as in the original function, and errors point at the user's code.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{AttrStyle, Item, ItemFn, ReturnType};

use crate::ast::{Instrumented, Operation};
use crate::syntax::{at, item_name_span, unnameable, unraw};
use crate::{attr, fallback};

/// Expands `#[instrument_events(args)] item`: reads the model, checks it, then
/// generates; on a mistake, the errors beside the item as written.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = not_a_function(item.clone());
            return fallback::untouched(item, error);
        }
    };
    let mut errors = darling::Error::accumulator();
    let model = Instrumented::from_syn(attr::parse_instrument_args(args), func, &mut errors);
    errors.handle(model.validate());
    match errors.finish() {
        Ok(()) => instrument(&model),
        Err(errors) => fallback::untouched(item, errors),
    }
}

fn not_a_function(item: TokenStream) -> darling::Error {
    if let Ok(method) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
        if method.default.is_none() {
            return at(
                method.sig.ident.span(),
                "`#[instrument_events]` needs a function body; put it on the implementations instead",
            );
        }
    }
    let span = syn::parse2::<Item>(item).map_or_else(|_| Span::call_site(), |i| item_name_span(&i));
    at(
        span,
        "`#[instrument_events]` goes on a function or a method",
    )
}

fn instrument(model: &Instrumented) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = &model.func;
    let outer = attrs.iter().filter(|a| matches!(a.style, AttrStyle::Outer));
    let inner = attrs
        .iter()
        .filter(|a| matches!(a.style, AttrStyle::Inner(_)));
    let (site, start) = start(model);
    let finish = finish(model);
    let run = if sig.asyncness.is_some() {
        let fake_return = match &sig.output {
            ReturnType::Type(_, ty) if !unnameable(ty) => quote_spanned! {ty.span()=>
                #[allow(
                    unknown_lints,
                    unreachable_code,
                    clippy::diverging_sub_expression,
                    clippy::let_unit_value,
                    clippy::unreachable,
                    clippy::empty_loop,
                    clippy::needless_return
                )]
                if false {
                    let __herald_unreachable: #ty = loop {};
                    return __herald_unreachable;
                }
            },
            _ => TokenStream::new(),
        };
        quote! {
            ::herald::__private::run_async(
                __herald_call,
                async move {
                    #fake_return
                    #block
                },
                #finish,
            )
            .await
        }
    } else {
        let turbofish = match &sig.output {
            ReturnType::Default => quote!(::<(), _, _>),
            ReturnType::Type(_, ty) if unnameable(ty) => TokenStream::new(),
            ReturnType::Type(_, ty) => quote!(::<#ty, _, _>),
        };
        quote! {
            ::herald::__private::run_sync #turbofish(__herald_call, move || #block, #finish)
        }
    };
    quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            static __HERALD_SITE: ::herald::__private::Site = #site;
            let __herald_call = #start;
            #run
        }
    }
}

/// The `Site` constant and the `Call::start..` expression.
fn start(model: &Instrumented) -> (TokenStream, TokenStream) {
    let root = model.root;
    let site = match &model.operation {
        Operation::Named(op) | Operation::Function(op) => {
            quote!(::herald::__private::Site::new(#op, #root))
        }
        Operation::Method(method) => quote!(::herald::__private::Site::method(#method, #root)),
    };
    let self_type = if model.has_receiver() {
        quote!(::core::any::type_name::<Self>)
    } else {
        quote!(::core::any::type_name::<()>)
    };
    let call = match &model.started {
        Some(expr) => {
            quote!(::herald::__private::Call::start_with(&__HERALD_SITE, #self_type, || #expr))
        }
        None if model.recorded.is_empty() => quote! {
            ::herald::__private::Call::start(&__HERALD_SITE, #self_type, |_: &mut ::herald::__private::Args| {})
        },
        None => {
            let pushes = model.recorded.iter().map(|ident| {
                let name = unraw(ident);
                let value = quote_spanned!(ident.span()=> &#ident);
                quote!(::herald::__private::Args::push(__herald_args, #name, #value);)
            });
            quote! {
                ::herald::__private::Call::start(&__HERALD_SITE, #self_type, |__herald_args: &mut ::herald::__private::Args| {
                    #(#pushes)*
                })
            }
        }
    };
    (site, call)
}

/// The closure that emits the closing event from the body's value.
fn finish(model: &Instrumented) -> TokenStream {
    let some = quote!(::core::option::Option::Some);
    let none = quote!(::core::option::Option::None);
    let recorded = quote!(#some(::herald::__private::debug_text(__herald_out)));
    if model.returns_result() {
        let ok = match (&model.completed, model.ret) {
            (Some(completed), _) => quote! {
                ::core::result::Result::Ok(__herald_ok) => __herald_call.completed_with(|| ::herald::__private::call_with(__herald_ok, #completed)),
            },
            (None, true) => quote! {
                ::core::result::Result::Ok(_) => __herald_call.completed(|| #recorded),
            },
            (None, false) => quote! {
                ::core::result::Result::Ok(_) => __herald_call.completed(|| #none),
            },
        };
        let text = quote! {
            || {
                #[allow(unused_imports)]
                use ::herald::__private::{ErrorTextDebug as _, ErrorTextDisplay as _, ErrorTextOpaque as _};
                (&&&::herald::__private::ErrorText(__herald_err)).__herald_error_text()
            }
        };
        let err = match &model.failed {
            Some(failed) => quote! {
                ::core::result::Result::Err(__herald_err) => __herald_call.failed_with(#text, || ::herald::__private::call_with(__herald_err, #failed)),
            },
            None => quote! {
                ::core::result::Result::Err(__herald_err) => __herald_call.failed(#text),
            },
        };
        quote! {
            |__herald_call: ::herald::__private::Call, __herald_out| match __herald_out {
                #ok
                #err
            }
        }
    } else {
        match (&model.completed, model.ret) {
            (Some(completed), _) => quote! {
                |__herald_call: ::herald::__private::Call, __herald_out| __herald_call.completed_with(|| ::herald::__private::call_with(__herald_out, #completed))
            },
            (None, true) => quote! {
                |__herald_call: ::herald::__private::Call, __herald_out| __herald_call.completed(|| #recorded)
            },
            (None, false) => quote! {
                |__herald_call: ::herald::__private::Call, _| __herald_call.completed(|| #none)
            },
        }
    }
}
