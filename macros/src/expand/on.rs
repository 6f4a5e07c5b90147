//! `#[on(...)]`: a `HandlerDescriptor` constant beside the untouched function, registered
//! with inventory; and `subscription!(path)`, which names that constant.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Item, ItemFn, ReturnType};

use crate::ast::{Delivery, Handler, Param};
use crate::fallback;
use crate::syntax::{at, item_name_span, unnameable, unraw};

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

/// The name of the descriptor constant for the handler `ident`.
pub fn const_ident(ident: &Ident) -> Ident {
    format_ident!(
        "__herald_subscription_{}",
        unraw(ident),
        span = ident.span()
    )
}

fn descriptor(h: &Handler<'_>) -> TokenStream {
    let func = h.func;
    let vis = &func.vis;
    let konst = const_ident(&func.sig.ident);
    let fn_name = unraw(&func.sig.ident);
    let some = quote!(::core::option::Option::Some);
    let none = quote!(::core::option::Option::None);

    let name = match &h.name {
        Some(name) => quote!(#name),
        None => quote!(::core::concat!(::core::module_path!(), "::", #fn_name)),
    };
    let group = h.group.as_deref().unwrap_or("default");
    let priority = h.priority;
    let event = match &h.event {
        Some(ty) => {
            let key = quote_spanned!(ty.span()=> ::herald::__private::EventKey::of::<#ty>);
            quote!(#some(#key()))
        }
        None => none.clone(),
    };
    let pattern = h
        .pattern
        .as_ref()
        .map_or_else(|| none.clone(), |p| quote!(#some(#p)));
    let phase = h.phase.map_or_else(
        || none.clone(),
        |p| {
            let p = format_ident!("{}", p);
            quote!(#some(::herald::__private::Phase::#p))
        },
    );
    let kind = h.kind.map_or_else(
        || none.clone(),
        |k| {
            let k = format_ident!("{}", k);
            quote!(#some(::herald::__private::Kind::#k))
        },
    );
    let source = h
        .source
        .as_ref()
        .map_or_else(|| none.clone(), |s| quote!(#some(#s)));
    let (when_fn, when) = match &h.when {
        Some(path) => {
            let check = match &h.event {
                Some(ty) => quote!(::herald::__private::when_typed::<#ty>(__herald_input, #path)),
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
    let wants_record = h.wants_record();
    let Delivery {
        concurrency,
        retry,
        backoff_nanos: backoff,
        shared,
    } = h.delivery;
    let (call_fn, call) = if func.sig.asyncness.is_some() {
        (
            async_call(h),
            quote!(::herald::__private::HandlerCall::Async(__herald_call)),
        )
    } else {
        (
            sync_call(h),
            quote!(::herald::__private::HandlerCall::Sync(__herald_call)),
        )
    };

    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
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
        ::herald::__private::inventory::submit! { #konst }
    }
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
    last.ident = const_ident(&last.ident);
    quote!(#path)
}
