//! Bounded history with indexes by id and by root, queried with a [`Filter`] and
//! walked as a [`Tree`].

use std::collections::{HashMap, VecDeque};

use uuid::Uuid;

use crate::core::{lock, RecordSink};
use crate::envelope::Record;
use crate::filter::Filter;
use crate::tree::Tree;

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
        Tree::build(root, self.chain(root).cloned())
    }

    pub(crate) fn index_sizes(&self) -> (usize, usize) {
        (self.by_id.len(), self.by_root.len())
    }
}

/// History as one of the places kept records go (the first).
impl RecordSink for std::sync::Mutex<History> {
    fn accept(&self, record: &Record) {
        lock(self).push(record.clone());
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
