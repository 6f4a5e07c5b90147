//! Support crate; see the `tests`/`examples` folders.
