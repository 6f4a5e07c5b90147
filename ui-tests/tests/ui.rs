//! Compile-fail and pass cases for the herald macros. Regenerate the expected output
//! with `TRYBUILD=overwrite cargo test -p herald-ui-tests` and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/event/*.rs");
    t.compile_fail("ui/on/*.rs");
    t.compile_fail("ui/instrument/*.rs");
    t.pass("ui/pass/*.rs");
}
