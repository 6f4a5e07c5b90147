//! What a built Redis transport runs with: its [`Config`], and how much of the stream
//! Redis keeps ([`Retention`]).

use std::time::Duration;

use crate::transport::Audience;

/// Entries the stream keeps when [`RedisBuilder::retention`] is not called.
const DEFAULT_MAX_LEN: u64 = 1_000_000;

/// How much of the stream Redis keeps (trimmed approximately, as entries are added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// About this many entries, the newest (`XADD .. MAXLEN ~ n`).
    MaxLen(u64),
    /// Entries younger than this (`XADD .. MINID ~ <now - age>`), by their stream id.
    MaxAge(Duration),
}

impl Default for Retention {
    /// [`Retention::MaxLen`] of 1,000,000 entries.
    fn default() -> Self {
        Retention::MaxLen(DEFAULT_MAX_LEN)
    }
}

/// The options of a built transport, shared with its tasks.
#[derive(Debug)]
pub(super) struct Config {
    pub(super) stream: String,
    pub(super) node: String,
    /// Whether `node` was generated (nobody will resume its group).
    pub(super) generated: bool,
    pub(super) own_group: String,
    pub(super) shared_group: String,
    pub(super) retention: Retention,
    pub(super) buffer: usize,
    pub(super) claim_idle: Duration,
    pub(super) batch: usize,
    pub(super) block: Duration,
    pub(super) max_deliveries: u64,
}

impl Config {
    /// The groups this process reads, with the audience of what each delivers.
    pub(super) fn groups(&self) -> impl Iterator<Item = (&str, Audience)> {
        [
            (self.own_group.as_str(), Audience::Everyone),
            (self.shared_group.as_str(), Audience::Shared),
        ]
        .into_iter()
    }
}
