//! The `herald` command line (`src/bin/herald.rs` calls [`main`]). Not public API: the
//! command line is the interface.
//!
//! Every command opens the store read-only and works from [`StoredRecord`]s (columns and
//! JSON), so it lists and renders records of any event type, linked into this binary or
//! not.

mod args;
mod render;
mod when;
mod wire;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use uuid::Uuid;

use crate::filter::Filter;
use crate::store::{SqliteStore, StoreError, StoredRecord};

use crate::glob::Glob;
use crate::REPLAYED_LABEL;
use args::{Cli, Command, QueryArgs, ReplayArgs, TailArgs, TreeArgs};

/// Why a command failed (bad arguments are reported by the parser before this).
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no record with id {id} in `{}`", db.display())]
    NoRecord { id: Uuid, db: PathBuf },
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
    #[error("redis at `{url}`: {reason}")]
    Redis { url: String, reason: String },
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
}

impl CliError {
    /// A Redis failure, the URL shown without its password.
    fn redis(url: &str, e: impl std::fmt::Display) -> CliError {
        CliError::Redis {
            url: crate::transport::redis::wire::redact(url),
            reason: e.to_string(),
        }
    }
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
        Command::Tail(t) => tail(t, out),
        Command::Replay(r) => replay(r, out),
    }
}

fn block_on<T>(fut: impl std::future::Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?
        .block_on(fut)
}

/// How often `tail --db` looks for new rows.
const POLL: std::time::Duration = std::time::Duration::from_millis(200);

fn tail(t: &TailArgs, out: &mut impl Write) -> Result<(), CliError> {
    let glob = t.pattern.as_deref().map(Glob::new);
    // Records still to print; `None` follows until interrupted.
    let mut left = t.count;
    if left == Some(0) {
        return Ok(()); // none asked for: nothing to read
    }
    let mut print = |row: &StoredRecord, out: &mut dyn Write| -> Result<bool, CliError> {
        if glob.as_ref().is_some_and(|g| !g.matches(row.name())) {
            return Ok(true);
        }
        if t.json {
            writeln!(out, "{}", row.json())?;
        } else {
            writeln!(out, "{}", render::tail_line(row))?;
        }
        out.flush()?;
        Ok(match &mut left {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n > 0
            }
            None => true,
        })
    };
    if let Some(url) = &t.redis {
        let stream = t
            .stream
            .as_deref()
            .unwrap_or(crate::transport::DEFAULT_STREAM);
        return block_on(wire::follow(url, stream, |entry, json| {
            match crate::store::StoredRecord::from_json(json) {
                Ok(row) => print(&row, out),
                Err(e) => {
                    eprintln!("herald: entry {entry} is not a herald record ({e}); skipped");
                    Ok(true)
                }
            }
        }));
    }
    let Some(db) = &t.db else {
        return Ok(()); // the parser requires one of the two
    };
    let store = SqliteStore::open_read_only(db)?;
    let mut filter = Filter::new();
    if let Some(p) = &t.pattern {
        filter = filter.name(p.as_str());
    }
    let mut after = store.last_row()?;
    if t.last > 0 {
        for row in store.query_stored(&filter.clone().limit(t.last))? {
            if !print(&row, out)? {
                return Ok(());
            }
        }
    }
    loop {
        let rows = store.written_after(&filter, after, 1_024)?;
        if rows.is_empty() {
            std::thread::sleep(POLL);
            continue;
        }
        for (rowid, row) in rows {
            after = rowid;
            if !print(&row, out)? {
                return Ok(());
            }
        }
    }
}

fn replay(r: &ReplayArgs, out: &mut impl Write) -> Result<(), CliError> {
    let store = SqliteStore::open_read_only(&r.db)?;
    let filter = r.window.filter(Some(&r.pattern));
    let rows = store.query_stored(&filter)?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        match labelled_replayed(row.json()) {
            Some(json) => entries.push(json),
            None => eprintln!("herald: record {} has unreadable JSON; skipped", row.id()),
        }
    }
    let sent = block_on(wire::send(&r.redis, &r.stream, &entries))?;
    writeln!(
        out,
        "sent {sent} of {} matching records to `{}`",
        rows.len(),
        r.stream
    )?;
    Ok(())
}

/// A record's JSON with the label `replayed = "true"` added.
fn labelled_replayed(json: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(json).ok()?;
    let record = value.as_object_mut()?;
    let labels = record
        .entry("labels")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    if labels.is_null() {
        *labels = serde_json::Value::Object(serde_json::Map::new());
    }
    labels
        .as_object_mut()?
        .insert(REPLAYED_LABEL.to_owned(), "true".into());
    serde_json::to_string(&value).ok()
}

fn query(q: &QueryArgs, out: &mut impl Write) -> Result<(), CliError> {
    let store = SqliteStore::open_read_only(&q.db)?;
    let filter = q.window.filter(q.pattern.as_deref());
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
    fn replayed_copies_carry_the_label_and_keep_the_rest() {
        let json = r#"{"id":"x","labels":{"region":"eu"},"payload":{"n":1}}"#;
        let out: serde_json::Value =
            serde_json::from_str(&labelled_replayed(json).unwrap()).unwrap();
        assert_eq!(out["labels"]["replayed"], "true");
        assert_eq!(out["labels"]["region"], "eu");
        assert_eq!(out["payload"]["n"], 1);
        let bare: serde_json::Value =
            serde_json::from_str(&labelled_replayed(r#"{"id":"x"}"#).unwrap()).unwrap();
        assert_eq!(bare["labels"]["replayed"], "true");
        assert_eq!(labelled_replayed("[1]"), None);
        assert_eq!(labelled_replayed("nope"), None);
    }

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
