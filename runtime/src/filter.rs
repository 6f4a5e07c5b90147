//! [`Filter`]: which records a query returns, for history, stores and the command line.

use std::time::SystemTime;

use uuid::Uuid;

use crate::envelope::Record;
use crate::event::{Kind, Phase};
use crate::glob::Glob;

/// Which records a query returns. Every given condition must hold.
///
/// ```
/// use herald::{Filter, Phase};
///
/// let f = Filter::new().name("task.**").phase(Phase::Failed).limit(10);
/// # let _ = f;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Filter {
    name: Option<NameMatch>,
    kind: Option<Kind>,
    phase: Option<Phase>,
    source: Option<String>,
    target: Option<String>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    pub(crate) root: Option<Uuid>,
    correlation: Option<Uuid>,
    pub(crate) limit: Option<usize>,
}

#[derive(Clone, Debug)]
enum NameMatch {
    Exact(String),
    Glob(Glob),
}

impl Filter {
    /// A filter that matches everything.
    pub fn new() -> Filter {
        Filter::default()
    }
    /// Records with this exact name, or matching this glob (`*` one segment, `**` any).
    pub fn name(mut self, name: impl Into<String>) -> Filter {
        let name = name.into();
        self.name = Some(if Glob::is_glob(&name) {
            NameMatch::Glob(Glob::new(&name))
        } else {
            NameMatch::Exact(name)
        });
        self
    }
    /// Records of this kind.
    pub fn kind(mut self, kind: Kind) -> Filter {
        self.kind = Some(kind);
        self
    }
    /// Records in this phase.
    pub fn phase(mut self, phase: Phase) -> Filter {
        self.phase = Some(phase);
        self
    }
    /// Records from this source.
    pub fn source(mut self, source: impl Into<String>) -> Filter {
        self.source = Some(source.into());
        self
    }
    /// Records for this target.
    pub fn target(mut self, target: impl Into<String>) -> Filter {
        self.target = Some(target.into());
        self
    }
    /// Records emitted at or after `t`.
    pub fn since(mut self, t: SystemTime) -> Filter {
        self.since = Some(t);
        self
    }
    /// Records emitted at or before `t`.
    pub fn until(mut self, t: SystemTime) -> Filter {
        self.until = Some(t);
        self
    }
    /// Records of the tree rooted at `root`.
    pub fn root(mut self, root: Uuid) -> Filter {
        self.root = Some(root);
        self
    }
    /// Records of this causal chain.
    pub fn correlation(mut self, id: Uuid) -> Filter {
        self.correlation = Some(id);
        self
    }
    /// Keep only the newest `n` matches.
    pub fn limit(mut self, n: usize) -> Filter {
        self.limit = Some(n);
        self
    }

    /// Whether `record` satisfies every condition (the limit aside).
    pub fn matches(&self, record: &Record) -> bool {
        let name_ok = match &self.name {
            None => true,
            Some(NameMatch::Exact(n)) => record.name() == n,
            Some(NameMatch::Glob(g)) => g.matches(record.name()),
        };
        name_ok
            && self.kind.is_none_or(|k| record.kind() == k)
            && self.phase.is_none_or(|p| record.phase() == p)
            && self
                .source
                .as_deref()
                .is_none_or(|s| record.source() == Some(s))
            && self
                .target
                .as_deref()
                .is_none_or(|t| record.target() == Some(t))
            && self.since.is_none_or(|t| record.timestamp() >= t)
            && self.until.is_none_or(|t| record.timestamp() <= t)
            && self.root.is_none_or(|r| record.root_id() == r)
            && self
                .correlation
                .is_none_or(|c| record.correlation_id() == c)
    }
}

/// Read by the event store, which translates a filter to SQL.
#[cfg(feature = "sqlite")]
impl Filter {
    /// The exact name or the glob source, when a name was given.
    pub(crate) fn wanted_name(&self) -> Option<&str> {
        match &self.name {
            None => None,
            Some(NameMatch::Exact(n)) => Some(n),
            Some(NameMatch::Glob(g)) => Some(g.as_str()),
        }
    }
    pub(crate) fn wanted_kind(&self) -> Option<Kind> {
        self.kind
    }
    pub(crate) fn wanted_phase(&self) -> Option<Phase> {
        self.phase
    }
    pub(crate) fn wanted_source(&self) -> Option<&str> {
        self.source.as_deref()
    }
    pub(crate) fn wanted_target(&self) -> Option<&str> {
        self.target.as_deref()
    }
    pub(crate) fn wanted_since(&self) -> Option<SystemTime> {
        self.since
    }
    pub(crate) fn wanted_until(&self) -> Option<SystemTime> {
        self.until
    }
    pub(crate) fn wanted_root(&self) -> Option<Uuid> {
        self.root
    }
    pub(crate) fn wanted_correlation(&self) -> Option<Uuid> {
        self.correlation
    }
    pub(crate) fn wanted_limit(&self) -> Option<usize> {
        self.limit
    }
}
