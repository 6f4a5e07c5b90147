//! Code generation, one module per macro. Generated code names only
//! `::herald::__private::..` and `::core::..` paths, and its own identifiers start
//! with `__herald_`.

pub mod descriptor;
pub mod event;
pub mod instrument;
pub mod on;
