//! The lifecycle events `#[instrument_events]` emits: [`Started`], [`Completed`],
//! [`Failed`] and [`Cancelled`].
//!
//! Their record names are per operation: `"{operation}.started"`, `"{operation}.completed"`,
//! and so on, so handlers can route on them by type (`#[on(herald::Failed)]`) or by
//! pattern (`#[on(pattern = "checkout.**.failed")]`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::event::{Event, Phase};

macro_rules! lifecycle {
    ($(#[$m:meta])* $ty:ident, $name:literal, $suffix:literal, $phase:ident { $($(#[$fm:meta])* $field:ident : $fty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $ty {
            /// The operation, such as `entity_store.register`.
            pub operation: Cow<'static, str>,
            $($(#[$fm])* pub $field: $fty,)*
        }

        impl Event for $ty {
            const NAME: &'static str = $name;
            const PHASE: Option<Phase> = Some(Phase::$phase);

            fn __herald_record_name(&self) -> Option<String> {
                Some(format!(concat!("{}.", $suffix), self.operation))
            }
        }

        impl crate::__private::ResponseOf for $ty {
            type Response = crate::__private::NoResponse;
        }

        inventory::submit! { crate::registry::EventDescriptor::__of::<$ty>(None) }
    };
}

lifecycle! {
    /// An instrumented call started (`"{operation}.started"`, phase `Started`).
    Started, "herald.started", "started", Started {
        /// The recorded arguments, name and `Debug` text, when `args` was given.
        args: Vec<(Cow<'static, str>, String)>,
    }
}

lifecycle! {
    /// An instrumented call returned (`"{operation}.completed"`, phase `Completed`).
    Completed, "herald.completed", "completed", Completed {
        /// The `Debug` text of the return value, when `ret` was given.
        result: Option<String>,
    }
}

lifecycle! {
    /// An instrumented call returned `Err` or panicked (`"{operation}.failed"`, phase `Failed`).
    Failed, "herald.failed", "failed", Failed {
        /// The error's `Display` text (or `Debug`, or the panic message).
        error: String,
    }
}

lifecycle! {
    /// An instrumented future was dropped before it finished
    /// (`"{operation}.cancelled"`, phase `Cancelled`).
    Cancelled, "herald.cancelled", "cancelled", Cancelled {}
}
