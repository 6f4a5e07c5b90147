//! The command line grammar.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

use super::when;

/// Inspect the records herald programs keep in an event store or send over Redis.
#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    after_help = "Examples:\n  \
        herald query --db events.db --pattern 'checkout.**' --since 10m\n  \
        herald query --db events.db --since 2026-01-02T03:00:00Z --limit 20 --json\n  \
        herald tree --db events.db 0190f3c2-8f1e-7a4b-9c1d-2e3f4a5b6c7d\n  \
        herald tail --redis redis://127.0.0.1:6379 --pattern 'order.*'\n  \
        herald tail --db events.db --last 20\n  \
        herald replay --db events.db --pattern 'order.**' --since 1h --redis redis://127.0.0.1:6379"
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
    /// Follow records as they come: from a Redis stream, or from a store file (polled).
    Tail(TailArgs),
    /// Send stored records to a Redis stream again, labelled `replayed`, for the
    /// processes on it to handle once more.
    Replay(ReplayArgs),
}

/// `herald tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Follow this store file (a SQLite database written by `herald::store::SqliteStore`).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "redis",
        conflicts_with = "redis"
    )]
    pub db: Option<PathBuf>,
    /// Follow the stream of this Redis server (`redis://host:port`).
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// The Redis stream, with `--redis` [default: herald:events].
    #[arg(long, value_name = "S")]
    pub stream: Option<String>,
    /// Only records with this name, or matching this glob.
    #[arg(long, short, value_name = "P")]
    pub pattern: Option<String>,
    /// Print the newest N records kept so far before following.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub last: usize,
    /// Stop after printing N records (0: print none and exit; default: follow until
    /// interrupted).
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// Print each record as one line of JSON.
    #[arg(long)]
    pub json: bool,
}

/// `herald replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The store file to read.
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// The records to send: a name or a glob (`order.**`).
    #[arg(long, short, value_name = "P")]
    pub pattern: String,
    /// Which of them.
    #[command(flatten)]
    pub window: Window,
    /// The Redis server to send them to (`redis://host:port`).
    #[arg(long, value_name = "URL")]
    pub redis: String,
    /// The Redis stream.
    #[arg(long, value_name = "S", default_value = crate::transport::DEFAULT_STREAM)]
    pub stream: String,
}

/// `herald query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The store file (a SQLite database written by `herald::store::SqliteStore`).
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// Only records with this name, or matching this glob (`*` one dotted segment,
    /// `**` any number: `checkout.**`, `**.failed`).
    #[arg(long, short, value_name = "P")]
    pub pattern: Option<String>,
    /// Which of them.
    #[command(flatten)]
    pub window: Window,
    /// Print each record as one line of JSON, with every field and the payload.
    #[arg(long)]
    pub json: bool,
}

/// The time window and count of `query` and `replay`.
#[derive(Debug, Args)]
pub struct Window {
    /// Only records at or after this time: RFC 3339 (`2026-01-02T03:04:05Z`) or an age
    /// (`30s`, `10m`, `2h`, `7d`).
    #[arg(long, value_name = "T", value_parser = when::parse_time)]
    pub since: Option<SystemTime>,
    /// Only records at or before this time (same forms as `--since`).
    #[arg(long, value_name = "T", value_parser = when::parse_time)]
    pub until: Option<SystemTime>,
    /// Only the newest N matches (still in order, oldest first).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

impl Window {
    /// The filter of records named or matching `pattern` (any, when `None`) in this
    /// window.
    pub fn filter(&self, pattern: Option<&str>) -> crate::filter::Filter {
        let mut filter = crate::filter::Filter::new();
        if let Some(p) = pattern {
            filter = filter.name(p);
        }
        if let Some(t) = self.since {
            filter = filter.since(t);
        }
        if let Some(t) = self.until {
            filter = filter.until(t);
        }
        if let Some(n) = self.limit {
            filter = filter.limit(n);
        }
        filter
    }
}

/// `herald tree`.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// The store file (a SQLite database written by `herald::store::SqliteStore`).
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
        assert!(q.window.since.is_some() && q.window.until.is_some());
        assert_eq!(q.window.limit, Some(5));
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
        assert!(parse(&["tail"]).is_err(), "a source is required");
        assert!(parse(&["tail", "--db", "e.db", "--redis", "redis://x"]).is_err());
        assert!(parse(&["replay", "--db", "e.db", "--redis", "redis://x"]).is_err());
    }

    mod properties {
        use super::*;
        use crate::time_fmt::tests::{config, multibyte_in_place, mutated};
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn record_ids_read_back(id in any::<u128>()) {
                let id = Uuid::from_u128(id);
                prop_assert_eq!(parse_uuid(&id.to_string()), Ok(id));
                prop_assert_eq!(parse_uuid(&id.simple().to_string()), Ok(id));
            }

            #[test]
            fn mutated_ids_are_an_id_or_a_message(
                text in any::<u128>().prop_map(|id| Uuid::from_u128(id).to_string()).prop_flat_map(mutated),
            ) {
                if let Err(message) = parse_uuid(&text) {
                    prop_assert!(message.starts_with("not a record id"), "{}", message);
                }
            }

            #[test]
            fn ids_with_multibyte_characters_are_refused(
                text in any::<u128>().prop_map(|id| Uuid::from_u128(id).to_string()).prop_flat_map(multibyte_in_place),
            ) {
                prop_assert!(parse_uuid(&text).is_err(), "{}", text);
            }
        }
    }

    #[test]
    fn tail_and_replay_take_their_options() {
        let cli = parse(&[
            "tail",
            "--redis",
            "redis://h:1",
            "-p",
            "a.*",
            "--count",
            "3",
        ])
        .expect("parses");
        let Command::Tail(t) = cli.command else {
            panic!("not a tail: {cli:?}");
        };
        assert_eq!(t.redis.as_deref(), Some("redis://h:1"));
        assert_eq!(t.stream, None);
        assert_eq!((t.count, t.last), (Some(3), 0));
        let cli = parse(&[
            "replay",
            "--db",
            "e.db",
            "-p",
            "a.**",
            "--since",
            "1h",
            "--redis",
            "redis://h:1",
            "--stream",
            "s",
        ])
        .expect("parses");
        let Command::Replay(r) = cli.command else {
            panic!("not a replay: {cli:?}");
        };
        assert_eq!((r.pattern.as_str(), r.stream.as_str()), ("a.**", "s"));
        assert!(r.window.since.is_some());
    }
}
