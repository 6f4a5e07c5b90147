//! The rules that relate several options, or an option and the item it is on, checked
//! over a model once it is built (see `ast`). Each mistake is reported with a message
//! that says what is wrong and what to write instead, spanned on what was written, and
//! every mistake is reported, not just the first.

use darling::error::Accumulator;
use darling::Error;
use syn::spanned::Spanned;
use syn::{Ident, ReturnType};

use crate::ast::{classify, EventDef, Handler, Instrumented, Param};
use crate::attr::ParamSelection;
use crate::syntax::{at, param_ident, returns_result, text_of};

impl EventDef<'_> {
    /// Checks the rules across `#[event]` options.
    pub fn validate(&self) -> darling::Result<()> {
        let mut errors = Error::accumulator();
        if let Some(response) = &self.response {
            if self.kind != Some("Query") {
                let now = match &self.options.kind {
                    Some(k) => format!(", but this event's kind is `{}`", k.value),
                    None => "; add `kind = \"query\"`".to_owned(),
                };
                errors.push(at(
                    response.span(),
                    format!("`response` applies to queries only{now}"),
                ));
            }
        }
        if let Some(migrate) = &self.migrate {
            if self.is_generic() {
                errors.push(at(
                    migrate.span(),
                    "`migrate` needs a non-generic event type: generic types are not registered for decoding",
                ));
            }
        }
        errors.finish()
    }
}

impl Handler<'_> {
    /// Checks the parameter against the named event type, and the rules across the
    /// delivery arguments of `#[on]`.
    pub fn validate(&self) -> darling::Result<()> {
        let mut errors = Error::accumulator();
        if let (None, Some(referent)) = (&self.event, self.referent) {
            let (param, payload) = classify(referent);
            if param != Param::Record {
                let named = payload.map_or_else(|| "OrderPlaced".to_owned(), text_of);
                errors.push(at(
                    referent.span(),
                    format!("no event type is named in `#[on]`, so the handler must take `&Record`; to take this parameter, name the type: `#[on({named})]`"),
                ));
            }
        }
        if let Some(concurrency) = self.options.concurrency {
            if self.func.sig.asyncness.is_none() {
                errors.push(at(
                    concurrency.key,
                    "`concurrency` applies to async handlers only",
                ));
            } else if concurrency.value == 0 {
                errors.push(at(concurrency.span, "`concurrency` must be at least 1"));
            }
        }
        if let Some(backoff) = &self.options.backoff {
            // A backoff that could not be read is reported as such, not also here
            // (a readable one is longer than zero).
            if self.options.retry.is_none() && self.delivery.backoff_nanos != 0 {
                errors.push(at(
                    backoff.span,
                    "`backoff` needs `retry = N`: it is the wait before the first retry",
                ));
            }
        }
        errors.finish()
    }
}

impl Instrumented {
    /// Checks `args` / `skip` against the signature, and the rules across
    /// `#[instrument_events]` options.
    pub fn validate(&self) -> darling::Result<()> {
        let mut errors = Error::accumulator();
        self.check_selections(&mut errors);
        let options = &self.options;
        if options.started.is_some() {
            for selection in [&options.args, &options.skip].into_iter().flatten() {
                errors.push(at(
                    selection.span(),
                    "arguments are recorded in the default `Started` event, which `started = ..` replaces; put them in your event instead",
                ));
            }
        }
        if options.ret.is_present() && options.completed.is_some() {
            errors.push(at(
                options.ret.span(),
                "`ret` records the return value in the default `Completed` event, which `completed = ..` replaces; put it in your event instead",
            ));
        }
        if let Some(failed) = &options.failed {
            if !returns_result(&self.func.sig.output) {
                let returns = match &self.func.sig.output {
                    ReturnType::Default => "returns `()`".to_owned(),
                    ReturnType::Type(_, ty) => format!("returns `{}`", text_of(ty)),
                };
                errors.push(at(
                    failed.key,
                    format!(
                        "`failed = ..` applies to functions that return `Result`; `{}` {returns}",
                        self.func.sig.ident
                    ),
                ));
            }
        }
        errors.finish()
    }

    /// Checks the parameters `args(..)` / `skip(..)` list against the signature.
    fn check_selections(&self, errors: &mut Accumulator) {
        let sig = &self.func.sig;
        let params: Vec<&Ident> = sig.inputs.iter().filter_map(param_ident).collect();
        let check = |names: &[Ident], option: &str, errors: &mut Accumulator| {
            for (i, name) in names.iter().enumerate() {
                if !params.contains(&name) {
                    errors.push(at(
                        name.span(),
                        format!(
                            "`{option}({name})`: `{}` has no parameter named `{name}`",
                            sig.ident
                        ),
                    ));
                } else if names[..i].contains(name) {
                    errors.push(at(name.span(), format!("`{name}` is listed twice")));
                }
            }
        };
        let options = &self.options;
        match options.skip.as_ref().map(|s| (&**s, s.span())) {
            None => {}
            Some((ParamSelection::All, span)) => {
                errors.push(at(span, "`skip` takes a list of parameters: `skip(a, b)`"));
            }
            Some((ParamSelection::Only(names), span)) => {
                if let Some(ParamSelection::Only(_)) = options.args.as_deref() {
                    errors.push(at(span, "use `args(..)` to list the parameters to record or `skip(..)` to list the ones not to, not both"));
                }
                check(names, "skip", errors);
            }
        }
        if let Some(ParamSelection::Only(names)) = options.args.as_deref() {
            check(names, "args", errors);
        }
    }
}
