//! Support crate for herald's ui-tests.
