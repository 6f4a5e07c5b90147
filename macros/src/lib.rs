//! herald macros
