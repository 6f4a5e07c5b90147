//! A map split into independently locked shards, keyed by ids we make or random uuids.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

use uuid::Uuid;

use super::OpId;

/// Shards per map: a power of two, well above the number of cores, so that two threads
/// rarely want the same one.
const SHARDS: usize = 64;

/// A key with a well-mixed 64-bit hash.
pub(crate) trait ShardKey: Eq + Hash + Copy {
    fn mix(&self) -> u64;
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn fold(x: u64) -> u64 {
    let x = x.wrapping_mul(K);
    x ^ (x >> 29)
}

impl ShardKey for OpId {
    #[inline]
    fn mix(&self) -> u64 {
        fold(self.value())
    }
}

impl ShardKey for Uuid {
    #[inline]
    fn mix(&self) -> u64 {
        let (hi, lo) = self.as_u64_pair();
        fold(hi ^ fold(lo))
    }
}

pub(crate) type IdMap<K, V> = HashMap<K, V, crate::hash::FxBuild>;

/// A map in `SHARDS` locked parts.
pub(crate) struct Sharded<K, V> {
    shards: Box<[Mutex<IdMap<K, V>>]>,
}

impl<K: ShardKey, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| Mutex::new(IdMap::default())).collect(),
        }
    }
}

impl<K: ShardKey, V> Sharded<K, V> {
    /// The locked shard holding `key`.
    #[inline]
    pub(crate) fn lock(&self, key: &K) -> MutexGuard<'_, IdMap<K, V>> {
        // The high bits: the low ones pick the bucket inside the shard's map.
        let i = (key.mix() >> 58) as usize % SHARDS;
        lock(&self.shards[i])
    }

    /// Every shard, locked one at a time.
    pub(crate) fn for_each_shard(&self, mut f: impl FnMut(&mut IdMap<K, V>)) {
        for shard in self.shards.iter() {
            f(&mut lock(shard));
        }
    }
}

/// Locks `m`, ignoring poisoning: the coordinator's state stays consistent across a
/// panic in user code because no user code runs under its locks.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
