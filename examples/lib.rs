//! Runnable herald examples: `cargo run --example quickstart` from the workspace root.
