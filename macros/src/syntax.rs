//! Small helpers over the user's syntax (names, types, signatures, generics) and the
//! spanned error every pass reports with. This module imports no other of the crate.

use darling::Error;
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Item, ItemFn, Pat, ReturnType, Type};

/// An error spanned on `span`.
pub fn at(span: Span, message: impl std::fmt::Display) -> Error {
    Error::custom(message).with_span(&span)
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

/// The type without parentheses or invisible groups.
pub fn strip_type(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => strip_type(&p.elem),
        Type::Group(g) => strip_type(&g.elem),
        other => other,
    }
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

/// Whether the function has a `self` receiver.
pub fn has_receiver(func: &ItemFn) -> bool {
    matches!(func.sig.inputs.first(), Some(FnArg::Receiver(_)))
}

/// The type's generics with, for a generic type, the bound the `Event` supertraits need
/// on the type itself (`Serialize + Send + Sync + 'static`).
pub fn bounded_generics(input: &syn::DeriveInput) -> syn::Generics {
    let ident = &input.ident;
    let (_, ty_generics, _) = input.generics.split_for_impl();
    let mut generics = input.generics.clone();
    if !generics.params.is_empty() {
        generics
            .make_where_clause()
            .predicates
            .push(syn::parse_quote! {
                #ident #ty_generics: ::herald::__private::serde::Serialize
                    + ::core::marker::Send + ::core::marker::Sync + 'static
            });
    }
    generics
}

/// Where to point an error about an item that is not what the attribute goes on: its
/// name when it has one.
pub fn item_name_span(item: &Item) -> Span {
    match item {
        Item::Struct(i) => i.ident.span(),
        Item::Enum(i) => i.ident.span(),
        Item::Union(i) => i.ident.span(),
        Item::Const(i) => i.ident.span(),
        Item::Static(i) => i.ident.span(),
        Item::Trait(i) => i.ident.span(),
        Item::Type(i) => i.ident.span(),
        Item::Mod(i) => i.ident.span(),
        Item::Fn(i) => i.sig.ident.span(),
        Item::Impl(i) => i.self_ty.span(),
        other => other.span(),
    }
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
