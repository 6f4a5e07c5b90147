//! The `herald` command line (`src/bin/herald.rs` calls [`main`]). Not public API: the
//! command line is the interface.
//!
//! Every command opens the store read-only and works from [`StoredRecord`]s (columns and
//! JSON), so it lists and renders records of any event type, linked into this binary or
//! not.

mod args;
mod render;
mod when;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use uuid::Uuid;

use crate::bus::Filter;
use crate::store::{SqliteStore, StoreError, StoredRecord};

use args::{Cli, Command, QueryArgs, TreeArgs};

/// Why a command failed (bad arguments are reported by the parser before this).
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no record with id {id} in `{}`", db.display())]
    NoRecord { id: Uuid, db: PathBuf },
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
}

/// Runs the command line of the current process: parses the arguments (printing help,
/// or the usage error and exiting with status 2), runs the command, and prints a failure
/// as one line on stderr with status 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let result = run(&cli, &mut out).and_then(|()| out.flush().map_err(CliError::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `herald query ... | head`: the reader has what it wanted.
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli, out: &mut impl Write) -> Result<(), CliError> {
    match &cli.command {
        Command::Query(q) => query(q, out),
        Command::Tree(t) => tree(t, out),
    }
}

fn query(q: &QueryArgs, out: &mut impl Write) -> Result<(), CliError> {
    let store = SqliteStore::open_read_only(&q.db)?;
    let mut filter = Filter::new();
    if let Some(p) = &q.pattern {
        filter = filter.name(p.as_str());
    }
    if let Some(t) = q.since {
        filter = filter.since(t);
    }
    if let Some(t) = q.until {
        filter = filter.until(t);
    }
    if let Some(n) = q.limit {
        filter = filter.limit(n);
    }
    let rows = store.query_stored(&filter)?;
    if q.json {
        for r in &rows {
            writeln!(out, "{}", r.json())?;
        }
    } else {
        for line in render::query_lines(&rows) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

fn tree(t: &TreeArgs, out: &mut impl Write) -> Result<(), CliError> {
    let store = SqliteStore::open_read_only(&t.db)?;
    let no_record = || CliError::NoRecord {
        id: t.root,
        db: t.db.clone(),
    };
    let top: StoredRecord = store.get_stored(t.root)?.ok_or_else(no_record)?;
    let rows = store.query_stored(&Filter::new().root(top.root_id()))?;
    let text = render::tree(t.root, &rows).ok_or_else(no_record)?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_store_is_one_clear_error() {
        let cli = Cli::try_parse_from(["herald", "query", "--db", "/nonexistent/herald/events.db"])
            .expect("parses");
        let err = run(&cli, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot open store `/nonexistent/herald/events.db`: no such file"
        );
    }
}
