//! The command line grammar.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

use super::when;

/// Inspect the records a herald program kept in its event store.
#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    after_help = "Examples:\n  \
        herald query --db events.db --pattern 'checkout.**' --since 10m\n  \
        herald query --db events.db --since 2026-01-02T03:00:00Z --limit 20 --json\n  \
        herald tree --db events.db 0190f3c2-8f1e-7a4b-9c1d-2e3f4a5b6c7d"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List stored records, oldest first: timestamp, name, phase and id per line.
    Query(QueryArgs),
    /// Print the tree of nested records under one record, with phases and durations.
    Tree(TreeArgs),
}

/// `herald query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The store file (a SQLite database written by `herald::SqliteStore`).
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// Only records with this name, or matching this glob (`*` one dotted segment,
    /// `**` any number: `checkout.**`, `**.failed`).
    #[arg(long, short, value_name = "P")]
    pub pattern: Option<String>,
    /// Only records at or after this time: RFC 3339 (`2026-01-02T03:04:05Z`) or an age
    /// (`30s`, `10m`, `2h`, `7d`).
    #[arg(long, value_name = "T", value_parser = when::parse_time)]
    pub since: Option<SystemTime>,
    /// Only records at or before this time (same forms as `--since`).
    #[arg(long, value_name = "T", value_parser = when::parse_time)]
    pub until: Option<SystemTime>,
    /// Only the newest N matches (still printed oldest first).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print each record as one line of JSON, with every field and the payload.
    #[arg(long)]
    pub json: bool,
}

/// `herald tree`.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// The store file (a SQLite database written by `herald::SqliteStore`).
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// The id of the record at the top: a root, or any record to see what nests under it.
    #[arg(value_name = "ROOT_ID", value_parser = parse_uuid)]
    pub root: Uuid,
}

fn parse_uuid(s: &str) -> Result<Uuid, String> {
    Uuid::parse_str(s).map_err(|e| format!("not a record id ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("herald").chain(args.iter().copied()))
    }

    #[test]
    fn the_grammar_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn query_takes_its_options() {
        let cli = parse(&[
            "query",
            "--db",
            "e.db",
            "-p",
            "task.**",
            "--since",
            "10m",
            "--until",
            "2026-01-02T03:04:05Z",
            "--limit",
            "5",
            "--json",
        ])
        .expect("parses");
        let Command::Query(q) = cli.command else {
            panic!("not a query: {cli:?}");
        };
        assert_eq!(q.db, PathBuf::from("e.db"));
        assert_eq!(q.pattern.as_deref(), Some("task.**"));
        assert!(q.since.is_some() && q.until.is_some());
        assert_eq!(q.limit, Some(5));
        assert!(q.json);
    }

    #[test]
    fn tree_takes_a_uuid() {
        let id = "0190f3c2-8f1e-7a4b-9c1d-2e3f4a5b6c7d";
        let cli = parse(&["tree", "--db", "e.db", id]).expect("parses");
        let Command::Tree(t) = cli.command else {
            panic!("not a tree: {cli:?}");
        };
        assert_eq!(t.root.to_string(), id);
    }

    #[test]
    fn bad_input_is_refused_with_the_reason() {
        let err = parse(&["tree", "--db", "e.db", "nope"]).unwrap_err();
        assert!(err.to_string().contains("not a record id"), "{err}");
        let err = parse(&["query", "--db", "e.db", "--since", "yesterday"]).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
        let err = parse(&["query", "--db", "e.db", "--limit", "many"]).unwrap_err();
        assert!(err.to_string().contains("--limit"), "{err}");
        assert!(parse(&["query"]).is_err(), "--db is required");
        assert!(parse(&["tail"]).is_err());
    }
}
