//! `#[derive(Event)]`: the `Event` impl, the `Query` impl for queries, and the
//! registration of non-generic types.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;

use crate::ast::EventDef;
use crate::fallback;
use crate::syntax::bounded_generics;

/// Expands `#[derive(Event)]`: reads the model, checks it, then generates; on a
/// mistake, the errors and a stand-in impl.
pub fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = darling::Error::accumulator();
    let def = EventDef::from_syn(input, &mut errors);
    errors.handle(def.validate());
    match errors.finish() {
        Ok(()) => expand(&def),
        Err(errors) => fallback::event(input, errors),
    }
}

fn expand(def: &EventDef<'_>) -> TokenStream {
    let input = def.input;
    let ident = &input.ident;
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    let generics = bounded_generics(input);
    let where_clause = &generics.where_clause;

    let name = &def.name;
    let version = def.version.map(|v| {
        let v = Literal::u32_unsuffixed(v);
        quote!(const VERSION: ::core::primitive::u32 = #v;)
    });
    let kind = def.kind.map(|k| {
        let k = format_ident!("{}", k);
        quote!(const KIND: ::herald::__private::Kind = ::herald::__private::Kind::#k;)
    });
    let ttl = def.ttl_nanos.map(|n| {
        let n = Literal::u64_unsuffixed(n);
        quote! {
            const TTL: ::core::option::Option<::core::time::Duration> =
                ::core::option::Option::Some(::core::time::Duration::from_nanos(#n));
        }
    });
    let phase = def.phase.map(|p| {
        let p = format_ident!("{}", p);
        quote! {
            const PHASE: ::core::option::Option<::herald::__private::Phase> =
                ::core::option::Option::Some(::herald::__private::Phase::#p);
        }
    });
    let query = def.response.as_ref().map(|response| {
        quote! {
            #[automatically_derived]
            impl #impl_generics ::herald::__private::Query for #ident #ty_generics #where_clause {
                type Response = #response;
            }
        }
    });
    let response_of = match &def.response {
        Some(response) => quote!(::herald::__private::Responds<#response>),
        None => quote!(::herald::__private::NoResponse),
    };
    let register = (!def.is_generic()).then(|| {
        let migrate = match &def.migrate {
            Some(path) => quote_spanned! {path.span()=>
                ::core::option::Option::Some(#path as ::herald::__private::MigrateFn)
            },
            None => quote!(::core::option::Option::None),
        };
        let descriptor =
            quote_spanned!(ident.span()=> ::herald::__private::EventDescriptor::__of::<#ident>);
        quote! {
            ::herald::__private::inventory::submit! {
                #descriptor(#migrate)
            }
        }
    });

    // A static in a generic impl would be shared by every instantiation: generic
    // types keep the default (no slot; they route by hash).
    let slot = (!def.is_generic()).then(|| {
        quote! {
            #[inline]
            fn __herald_route_slot() -> &'static ::herald::__private::RouteSlot {
                static SLOT: ::herald::__private::RouteSlot = ::herald::__private::RouteSlot::new();
                &SLOT
            }
        }
    });

    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics ::herald::__private::Event for #ident #ty_generics #where_clause {
                const NAME: &'static ::core::primitive::str = #name;
                #version
                #kind
                #ttl
                #phase
                #slot
            }
            #query
            #[automatically_derived]
            impl #impl_generics ::herald::__private::ResponseOf for #ident #ty_generics #where_clause {
                type Response = #response_of;
            }
            #register
        };
    }
}
