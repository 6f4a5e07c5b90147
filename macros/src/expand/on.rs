//! `#[on(...)]`: a `HandlerDescriptor` constant beside the untouched function, registered
//! with inventory; and `subscription!(path)`, which names that constant.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Item, ItemFn, ReturnType};

use super::descriptor::{const_ident, Descriptor, Fields};
use crate::ast::{Handler, Param};
use crate::fallback;
use crate::syntax::{at, item_name_span, unnameable};

/// Expands `#[on(args)] item`: reads the model, checks it, then generates; on a
/// mistake, the errors beside the function and a stand-in descriptor.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(func)) => func,
        parsed => {
            let span = parsed
                .as_ref()
                .map_or_else(|_| Span::call_site(), item_name_span);
            let error = at(
                span,
                "`#[on]` goes on a free function, such as `fn handle(event: &OrderPlaced)`",
            );
            return fallback::untouched(item, error);
        }
    };
    let mut errors = darling::Error::accumulator();
    let handler = Handler::from_syn(args, &func, &mut errors);
    errors.handle(handler.validate());
    match errors.finish() {
        Ok(()) => {
            let descriptor = descriptor(&handler);
            quote!(#func #descriptor)
        }
        Err(errors) => fallback::handler(&func, errors),
    }
}

fn descriptor(h: &Handler<'_>) -> TokenStream {
    let func = h.func;
    let is_async = func.sig.asyncness.is_some();
    Descriptor {
        func,
        konst: const_ident(&func.sig.ident, func.sig.ident.span()),
        registered: true,
        call_fn: if is_async {
            async_call(h)
        } else {
            sync_call(h)
        },
        is_async,
        fields: Fields {
            name: h.name.as_deref(),
            group: h.group.as_deref(),
            priority: h.priority,
            event: h.event.as_ref(),
            pattern: h.pattern.as_deref(),
            phase: h.phase,
            kind: h.kind,
            source: h.source.as_deref(),
            when: h.when.as_ref(),
            wants_record: h.wants_record(),
            delivery: h.delivery,
        },
    }
    .constant()
}

/// The handler's return type for a turbofish, spanned on what the user wrote so an
/// unsupported return type is reported there; `_` where a turbofish cannot name it.
fn return_type(func: &ItemFn) -> TokenStream {
    match &func.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) if unnameable(ty) => quote!(_),
        ReturnType::Type(_, ty) => quote!(#ty),
    }
}

/// The event type the call downcasts to (the named one).
fn event_type(h: &Handler<'_>) -> TokenStream {
    match &h.event {
        Some(ty) => quote!(#ty),
        None => quote!(_),
    }
}

/// A compile-time check that a handler of a query returns the query's response type
/// (nothing to check when the event type is not named or the return type cannot be).
fn response_check(h: &Handler<'_>) -> TokenStream {
    let ret = return_type(h.func);
    match (&h.event, ret.to_string() == "_") {
        (Some(ty), false) => {
            let span = match &h.func.sig.output {
                ReturnType::Type(_, t) => t.span(),
                ReturnType::Default => h.func.sig.ident.span(),
            };
            quote_spanned! {span=>
                const _: () = ::herald::__private::check_response::<#ty, #ret>();
            }
        }
        _ => TokenStream::new(),
    }
}

fn sync_call(h: &Handler<'_>) -> TokenStream {
    let ident = &h.func.sig.ident;
    let ret = return_type(h.func);
    let check = response_check(h);
    let body = match h.param {
        Param::Record => quote! {
            ::herald::__private::call_record::<#ret>(__herald_input, |__herald_rec| #ident(__herald_rec))
        },
        Param::Payload | Param::Envelope => {
            let ty = event_type(h);
            let arg = payload_arg(h.param);
            quote! {
                ::herald::__private::call_typed::<#ty, #ret>(__herald_input, |__herald_env| #ident(#arg))
            }
        }
    };
    quote! {
        fn __herald_call(__herald_input: ::herald::__private::HandlerInput<'_>) -> ::herald::__private::Outcome {
            #check
            #body
        }
    }
}

fn payload_arg(param: Param) -> TokenStream {
    match param {
        Param::Payload => quote!(__herald_env.payload()),
        Param::Envelope | Param::Record => quote!(__herald_env),
    }
}

fn async_call(h: &Handler<'_>) -> TokenStream {
    let ident = &h.func.sig.ident;
    let ret = return_type(h.func);
    let check = response_check(h);
    let invoke = match h.param {
        Param::Record => quote!(#ident(&__herald_record).await),
        Param::Payload | Param::Envelope => {
            let ty = event_type(h);
            let arg = payload_arg(h.param);
            quote! {
                match __herald_record.downcast::<#ty>() {
                    ::core::option::Option::Some(__herald_env) => #ident(#arg).await,
                    ::core::option::Option::None => {
                        return ::core::result::Result::Err(
                            ::herald::__private::mismatch::<#ty>(__herald_record.__envelope()),
                        );
                    }
                }
            }
        }
    };
    quote! {
        fn __herald_call(__herald_record: ::herald::__private::Record) -> ::herald::__private::BoxFuture {
            #check
            ::herald::__private::Box::pin(async move {
                let __herald_ret = #invoke;
                ::herald::__private::finish_async::<#ret>(&__herald_record, __herald_ret)
            })
        }
    }
}

/// Expands `subscription!(path::to::handler)` to `path::to::__herald_subscription_handler`.
pub fn subscription(input: TokenStream) -> TokenStream {
    let mut path = match syn::parse2::<syn::Path>(input) {
        Ok(path) => path,
        Err(e) => {
            let error = syn::Error::new(
                e.span(),
                "expected a path to an `#[on]` handler: `subscription!(orders::on_placed)`",
            );
            return error.into_compile_error();
        }
    };
    let Some(last) = path.segments.last_mut() else {
        return syn::Error::new(Span::call_site(), "expected a path to an `#[on]` handler")
            .into_compile_error();
    };
    if !last.arguments.is_none() {
        return syn::Error::new(
            last.arguments.span(),
            "handlers are not generic: remove the generic arguments",
        )
        .into_compile_error();
    }
    last.ident = const_ident(&last.ident, last.ident.span());
    quote!(#path)
}
