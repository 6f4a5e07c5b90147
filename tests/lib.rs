//! Support crate for herald's tests.
