//! Bounded history with indexes by id and by root, the [`Filter`] used to query it, and
//! [`Tree`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::SystemTime;

use uuid::Uuid;

use crate::envelope::Record;
use crate::event::{Kind, Phase};
use crate::glob::Glob;

/// The last `capacity` records, oldest first. Evicting a record removes it from every
/// index, so memory is bounded by the capacity.
pub(crate) struct History {
    capacity: usize,
    ring: VecDeque<Record>,
    by_id: HashMap<Uuid, Record>,
    by_root: HashMap<Uuid, VecDeque<Uuid>>,
}

impl History {
    pub(crate) fn new(capacity: usize) -> History {
        History {
            capacity,
            ring: VecDeque::with_capacity(capacity.min(4096)),
            by_id: HashMap::with_capacity(capacity.min(4096)),
            by_root: HashMap::new(),
        }
    }

    pub(crate) fn push(&mut self, record: Record) {
        if self.ring.len() == self.capacity {
            if let Some(old) = self.ring.pop_front() {
                self.by_id.remove(&old.id());
                if let Some(ids) = self.by_root.get_mut(&old.root_id()) {
                    // Records leave in insertion order, so the oldest of its root is first.
                    if ids.front() == Some(&old.id()) {
                        ids.pop_front();
                    } else {
                        ids.retain(|id| *id != old.id());
                    }
                    if ids.is_empty() {
                        self.by_root.remove(&old.root_id());
                    }
                }
            }
        }
        self.by_id.insert(record.id(), record.clone());
        self.by_root
            .entry(record.root_id())
            .or_default()
            .push_back(record.id());
        self.ring.push_back(record);
    }

    pub(crate) fn all(&self) -> Vec<Record> {
        self.ring.iter().cloned().collect()
    }

    pub(crate) fn get(&self, id: Uuid) -> Option<Record> {
        self.by_id.get(&id).cloned()
    }

    pub(crate) fn query(&self, filter: &Filter) -> Vec<Record> {
        let candidates: Box<dyn DoubleEndedIterator<Item = &Record>> = match filter.root {
            Some(root) => Box::new(
                self.by_root
                    .get(&root)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| self.by_id.get(id)),
            ),
            None => Box::new(self.ring.iter()),
        };
        let mut out: Vec<Record> = match filter.limit {
            // Keep the newest `n`: walk backwards, then restore the order.
            Some(n) => {
                let mut v: Vec<Record> = candidates
                    .rev()
                    .filter(|r| filter.matches(r))
                    .take(n)
                    .cloned()
                    .collect();
                v.reverse();
                v
            }
            None => candidates.filter(|r| filter.matches(r)).cloned().collect(),
        };
        out.shrink_to_fit();
        out
    }

    pub(crate) fn tree(&self, root: Uuid) -> Option<Tree> {
        let ids = self.by_root.get(&root)?;
        let records: Vec<Record> = ids
            .iter()
            .filter_map(|id| self.by_id.get(id))
            .cloned()
            .collect();
        Tree::build(root, records)
    }

    pub(crate) fn index_sizes(&self) -> (usize, usize) {
        (self.by_id.len(), self.by_root.len())
    }
}

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
    root: Option<Uuid>,
    correlation: Option<Uuid>,
    limit: Option<usize>,
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

/// A record and the records nested under it, from [`Bus::tree`](crate::Bus::tree).
///
/// Its `Display` prints one line per operation, indented by depth, with the phase and
/// duration of each closing event folded into its started line.
#[derive(Clone, Debug)]
pub struct Tree {
    record: Record,
    children: Vec<Tree>,
}

impl Tree {
    /// The record at this node.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The records whose parent is this one, oldest first.
    pub fn children(&self) -> &[Tree] {
        &self.children
    }

    /// Every record in the tree, depth first.
    pub fn records(&self) -> Vec<Record> {
        let mut out = vec![self.record.clone()];
        for c in &self.children {
            out.extend(c.records());
        }
        out
    }

    /// Number of records in the tree.
    pub fn len(&self) -> usize {
        1 + self.children.iter().map(Tree::len).sum::<usize>()
    }

    /// Always false: a tree has at least its root.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Depth of the deepest record (the root alone has depth 1).
    pub fn depth(&self) -> usize {
        1 + self.children.iter().map(Tree::depth).max().unwrap_or(0)
    }

    /// The tree of `root` from its records, oldest first (used by the event store).
    #[cfg(feature = "sqlite")]
    pub(crate) fn from_records(root: Uuid, records: Vec<Record>) -> Option<Tree> {
        Tree::build(root, records)
    }

    fn build(root: Uuid, records: Vec<Record>) -> Option<Tree> {
        let mut by_parent: HashMap<Option<Uuid>, Vec<Record>> = HashMap::new();
        let present: std::collections::HashSet<Uuid> = records.iter().map(|r| r.id()).collect();
        let mut root_record = None;
        for r in records {
            if r.id() == root {
                root_record = Some(r);
                continue;
            }
            // A record whose parent was evicted hangs under the root.
            let parent = r.parent_id().filter(|p| present.contains(p)).or(Some(root));
            by_parent.entry(parent).or_default().push(r);
        }
        fn attach(record: Record, by_parent: &mut HashMap<Option<Uuid>, Vec<Record>>) -> Tree {
            let kids = by_parent.remove(&Some(record.id())).unwrap_or_default();
            Tree {
                children: kids.into_iter().map(|k| attach(k, by_parent)).collect(),
                record,
            }
        }
        let root_record = root_record?;
        Some(attach(root_record, &mut by_parent))
    }

    fn render(
        &self,
        siblings: &[Tree],
        parent: Option<Uuid>,
        depth: usize,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        let r = &self.record;
        if is_closing(r) {
            let folded = r.causation_id().is_some_and(|c| {
                Some(c) == parent
                    || siblings
                        .iter()
                        .any(|s| s.record.id() == c && s.record.phase() == Phase::Started)
            });
            if folded {
                return Ok(());
            }
        }
        let indent = "  ".repeat(depth);
        if r.phase() == Phase::Started {
            let closing = siblings
                .iter()
                .chain(&self.children)
                .find(|s| is_closing(&s.record) && s.record.causation_id() == Some(r.id()));
            let op = r.name().strip_suffix(".started").unwrap_or(r.name());
            match closing {
                Some(c) => {
                    write!(f, "{indent}{op} [{}", c.record.phase())?;
                    if let Some(d) = c.record.duration() {
                        write!(f, " in {d:?}")?;
                    }
                    if c.record.phase() == Phase::Failed {
                        if let Some(err) = c
                            .record
                            .payload_json()
                            .get("error")
                            .and_then(|e| e.as_str())
                        {
                            write!(f, ": {err}")?;
                        }
                    }
                    writeln!(f, "]")?;
                }
                None => writeln!(f, "{indent}{op} [started]")?,
            }
        } else {
            writeln!(f, "{indent}{} [{}]", r.name(), r.phase())?;
        }
        for c in &self.children {
            c.render(&self.children, Some(r.id()), depth + 1, f)?;
        }
        Ok(())
    }
}

fn is_closing(r: &Record) -> bool {
    matches!(
        r.phase(),
        Phase::Completed | Phase::Failed | Phase::Cancelled
    )
}

impl fmt::Display for Tree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(std::slice::from_ref(self), None, 0, f)
    }
}
