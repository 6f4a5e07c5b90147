//! Helpers shared by the integration test files (`mod common;`).

use herald::Record;

/// The arguments recorded in a `Started` record, as owned pairs.
pub fn started_args(r: &Record) -> Vec<(String, String)> {
    r.downcast_ref::<herald::Started>()
        .unwrap_or_else(|| panic!("{} is not a Started", r.name()))
        .args
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Owned argument pairs, to compare with [`started_args`].
#[allow(dead_code, reason = "not every test file compares arguments")]
pub fn args(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
