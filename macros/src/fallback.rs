//! What a macro emits when the input has mistakes: the errors, beside the untouched
//! item and a harmless stand-in for what it would have generated, so one mistake gives
//! one error instead of a cascade in every place that uses the type or the handler.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Data, DeriveInput, FnArg, ItemFn};

use crate::expand::descriptor::{const_ident, Descriptor, Fields};
use crate::syntax::bounded_generics;

/// `#[derive(Event)]` with mistakes: the errors and a stand-in impl.
pub fn event(input: &DeriveInput, errors: darling::Error) -> TokenStream {
    let errors = errors.write_errors();
    let stub = event_stub(input);
    quote!(#errors #stub)
}

/// `#[on]` with mistakes: the errors, the function, and a stand-in descriptor.
pub fn handler(func: &ItemFn, errors: darling::Error) -> TokenStream {
    let errors = errors.write_errors();
    let stub = handler_stub(func);
    quote!(#errors #func #stub)
}

/// An attribute with mistakes where no stand-in is needed: the errors and the item as
/// it was written.
pub fn untouched(item: TokenStream, errors: darling::Error) -> TokenStream {
    let errors = errors.write_errors();
    quote!(#errors #item)
}

/// A bare `Event` impl (a placeholder name, nothing registered) so code that uses the
/// type as an event still compiles. None for unions, which cannot be events at all.
fn event_stub(input: &DeriveInput) -> Option<TokenStream> {
    if let Data::Union(_) = input.data {
        return None;
    }
    let ident = &input.ident;
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    let generics = bounded_generics(input);
    let where_clause = &generics.where_clause;
    Some(quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics ::herald::__private::Event for #ident #ty_generics #where_clause {
                const NAME: &'static ::core::primitive::str = "__herald_invalid";
            }
        };
    })
}

/// An unregistered descriptor under the name `subscription!` looks for, with a handler
/// that does nothing. None for methods, where a sibling item would itself be an error.
fn handler_stub(func: &ItemFn) -> Option<TokenStream> {
    if let Some(FnArg::Receiver(_)) = func.sig.inputs.first() {
        return None;
    }
    let descriptor = Descriptor {
        func,
        // Spanned on the attribute: the function itself is left as written.
        konst: const_ident(&func.sig.ident, Span::call_site()),
        registered: false,
        call_fn: quote! {
            fn __herald_call(_: ::herald::__private::HandlerInput<'_>) -> ::herald::__private::Outcome {
                ::core::result::Result::Ok(())
            }
        },
        is_async: false,
        fields: Fields::default(),
    };
    Some(descriptor.constant())
}
