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
///
/// Every record kept has a sequence number; the ring holds them in order, so the
/// record of sequence number `s` sits at `s - base`. The records of one root form a
/// chain through the ring (each slot knows the next of its root), so the root index
/// holds only the first and the last of each chain: keeping a record allocates
/// nothing per root, and evicting one touches only its own root's entry.
pub(crate) struct History {
    capacity: usize,
    ring: VecDeque<Slot>,
    /// Sequence number of the oldest record in `ring`.
    base: u64,
    /// Id to sequence number (the newest, when an id was kept twice).
    by_id: HashMap<Uuid, u64, IdHash>,
    by_root: HashMap<Uuid, Chain, IdHash>,
}

struct Slot {
    record: Record,
    /// Sequence number of the next record of the same root, [`NONE`] for the last.
    next: u64,
}

/// The records of one root: sequence numbers of the first and the last.
struct Chain {
    first: u64,
    last: u64,
}

const NONE: u64 = u64::MAX;

impl History {
    pub(crate) fn new(capacity: usize) -> History {
        History {
            capacity,
            ring: VecDeque::with_capacity(capacity.min(4096)),
            base: 0,
            by_id: HashMap::with_capacity_and_hasher(capacity.min(4096), IdHash::new()),
            by_root: HashMap::with_hasher(IdHash::new()),
        }
    }

    pub(crate) fn push(&mut self, record: Record) {
        if self.ring.len() == self.capacity {
            self.evict();
        }
        let seq = self.base + self.ring.len() as u64;
        self.by_id.insert(record.id(), seq);
        match self.by_root.get_mut(&record.root_id()) {
            Some(chain) => {
                let last = chain.last;
                chain.last = seq;
                if let Some(slot) = self.slot_mut(last) {
                    slot.next = seq;
                }
            }
            None => {
                self.by_root.insert(
                    record.root_id(),
                    Chain {
                        first: seq,
                        last: seq,
                    },
                );
            }
        }
        self.ring.push_back(Slot { record, next: NONE });
    }

    /// Drops the oldest record and its index entries.
    fn evict(&mut self) {
        let Some(old) = self.ring.pop_front() else {
            return;
        };
        let seq = self.base;
        self.base += 1;
        let (id, root) = (old.record.id(), old.record.root_id());
        // An id kept twice maps to its newer copy, which stays.
        if let Some(newer) = self.by_id.remove(&id).filter(|&s| s != seq) {
            self.by_id.insert(id, newer);
        }
        // The oldest record is the first of its root's chain.
        if old.next == NONE {
            self.by_root.remove(&root);
        } else if let Some(chain) = self.by_root.get_mut(&root) {
            chain.first = old.next;
        }
    }

    fn slot(&self, seq: u64) -> Option<&Slot> {
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.ring.get(i)
    }

    fn slot_mut(&mut self, seq: u64) -> Option<&mut Slot> {
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.ring.get_mut(i)
    }

    /// The records of `root`'s tree, oldest first.
    fn chain(&self, root: Uuid) -> impl DoubleEndedIterator<Item = &Record> {
        let mut records = Vec::new();
        let mut seq = self.by_root.get(&root).map_or(NONE, |c| c.first);
        while let Some(slot) = self.slot(seq) {
            records.push(&slot.record);
            seq = slot.next;
        }
        records.into_iter()
    }

    pub(crate) fn all(&self) -> Vec<Record> {
        self.ring.iter().map(|s| s.record.clone()).collect()
    }

    pub(crate) fn get(&self, id: Uuid) -> Option<Record> {
        let seq = *self.by_id.get(&id)?;
        self.slot(seq).map(|s| s.record.clone())
    }

    pub(crate) fn query(&self, filter: &Filter) -> Vec<Record> {
        let candidates: Box<dyn DoubleEndedIterator<Item = &Record>> = match filter.root {
            Some(root) => Box::new(self.chain(root)),
            None => Box::new(self.ring.iter().map(|s| &s.record)),
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
        if !self.by_root.contains_key(&root) {
            return None;
        }
        Tree::build(root, self.chain(root).cloned().collect())
    }

    pub(crate) fn index_sizes(&self) -> (usize, usize) {
        (self.by_id.len(), self.by_root.len())
    }
}

/// Hashes record ids for the history's indexes: a multiply that folds both halves of the
/// id with two keys drawn per history, so ids received from other processes cannot be
/// chosen to collide. (SipHash, the default, cost more than the rest of keeping a record.)
#[derive(Clone)]
struct IdHash {
    k0: u64,
    k1: u64,
}

impl IdHash {
    fn new() -> IdHash {
        use std::hash::{BuildHasher, Hasher};
        let random = std::collections::hash_map::RandomState::new();
        let mut a = random.build_hasher();
        a.write_u8(0);
        let mut b = random.build_hasher();
        b.write_u8(1);
        IdHash {
            k0: a.finish(),
            k1: b.finish(),
        }
    }
}

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            k0: self.k0,
            k1: self.k1,
            hash: 0,
        }
    }
}

/// See [`IdHash`].
struct IdHasher {
    k0: u64,
    k1: u64,
    hash: u64,
}

impl std::hash::Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // A `Uuid` hashes as its 16 bytes; anything else is folded in 16 bytes at a time.
        for chunk in bytes.chunks(16) {
            let mut buf = [0u8; 16];
            buf[..chunk.len()].copy_from_slice(chunk);
            let v = u128::from_le_bytes(buf);
            let (lo, hi) = (v as u64 ^ self.k0 ^ self.hash, (v >> 64) as u64 ^ self.k1);
            let full = u128::from(lo) * u128::from(hi);
            self.hash = (full as u64) ^ ((full >> 64) as u64);
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        // The length prefix of a slice; the ids are what matter.
        self.hash ^= n as u64;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::envelope::{Envelope, Links, Meta, Name};
    use crate::lifecycle::Cancelled;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// A record `n` in the tree of `root` (its own root when `root == n`).
    fn record(n: u128, root: u128) -> Record {
        let mut meta = Meta::new(
            id(n),
            Name::Static("test.record"),
            "test.record",
            1,
            Default::default(),
            Default::default(),
            crate::id::now(),
        );
        let parent = (root != n).then(|| id(root));
        meta.links = Links::new(parent, Some(id(root)), Some(id(root)), parent);
        Record::new(Envelope::new(
            meta,
            Cancelled {
                operation: Cow::Borrowed("test"),
            },
        ))
    }

    fn ids(records: &[Record]) -> Vec<u128> {
        records.iter().map(|r| r.id().as_u128()).collect()
    }

    #[test]
    fn interleaved_trees_keep_their_order_through_eviction() {
        let mut h = History::new(4);
        // Two trees, 1 and 2, interleaved: 1, 2, 11, 12, 21, 13.
        for (n, root) in [(1, 1), (2, 2), (11, 1), (12, 1), (21, 2), (13, 1)] {
            h.push(record(n, root));
        }
        // 1 and 2 are gone; what is left of each tree is in order.
        assert_eq!(ids(&h.all()), [11, 12, 21, 13]);
        let one = h.query(&Filter::new().root(id(1)));
        assert_eq!(ids(&one), [11, 12, 13]);
        assert_eq!(ids(&h.query(&Filter::new().root(id(1)).limit(2))), [12, 13]);
        assert_eq!(ids(&h.query(&Filter::new().root(id(2)))), [21]);
        assert!(h.tree(id(1)).is_none(), "the root record was evicted");
        assert_eq!(h.index_sizes(), (4, 2));

        // Tree 2 leaves with its last record; tree 1 with its last.
        for n in [3, 4, 5] {
            h.push(record(n, n));
        }
        assert_eq!(ids(&h.all()), [13, 3, 4, 5]);
        assert!(h.query(&Filter::new().root(id(2))).is_empty());
        assert_eq!(ids(&h.query(&Filter::new().root(id(1)))), [13]);
        h.push(record(6, 6));
        assert!(h.query(&Filter::new().root(id(1))).is_empty());
        assert_eq!(h.index_sizes(), (4, 4));
        assert_eq!(h.tree(id(6)).map(|t| t.len()), Some(1));
        assert!(h.get(id(13)).is_none());
        assert_eq!(h.get(id(5)).map(|r| r.id()), Some(id(5)));
    }

    #[test]
    fn an_id_kept_twice_is_found_until_its_newer_copy_leaves() {
        let mut h = History::new(3);
        h.push(record(7, 7));
        h.push(record(7, 7));
        h.push(record(8, 8));
        h.push(record(9, 9)); // evicts the older copy of 7
        assert!(h.get(id(7)).is_some());
        assert_eq!(ids(&h.query(&Filter::new().root(id(7)))), [7]);
        h.push(record(10, 10)); // evicts the newer one
        assert!(h.get(id(7)).is_none());
        assert!(h.query(&Filter::new().root(id(7))).is_empty());
        assert_eq!(h.index_sizes(), (3, 3));
    }

    #[test]
    fn a_capacity_of_one_keeps_one_entry_per_index() {
        // Every push evicts; records of one root follow each other, and of others.
        let mut h = History::new(1);
        for n in 1..100 {
            h.push(record(n, n % 3 + 1000));
        }
        assert_eq!(ids(&h.all()), [99]);
        assert_eq!(h.index_sizes(), (1, 1));
    }
}
