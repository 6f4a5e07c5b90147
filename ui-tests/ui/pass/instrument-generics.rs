#![deny(warnings)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;

use herald::instrument_events;

#[instrument_events(args)]
fn largest<T>(items: &[T]) -> Option<&T>
where
    T: Ord + Debug,
{
    items.iter().max()
}

#[instrument_events(args(key), ret)]
fn lookup<'m, K: Ord + Debug, V: Debug>(map: &'m BTreeMap<K, V>, key: &K) -> Option<&'m V> {
    map.get(key)
}

#[instrument_events]
fn count<const N: usize, T: Hash>(_items: [T; N]) -> usize {
    N
}

struct Store<T> {
    items: Vec<T>,
}

impl<T> Store<T>
where
    T: Clone + Debug + Send + 'static,
{
    #[instrument_events(args)]
    fn push(&mut self, item: T) -> usize {
        self.items.push(item);
        self.items.len()
    }

    #[instrument_events(skip(f))]
    fn map<U, F: Fn(&T) -> U>(&self, f: F) -> Vec<U> {
        self.items.iter().map(f).collect()
    }

    #[instrument_events(args)]
    async fn first_async(&self, fallback: T) -> T {
        self.items.first().cloned().unwrap_or(fallback)
    }
}

trait Describe {
    fn describe(&self) -> String;
}

impl<T: Debug> Describe for Vec<T> {
    #[instrument_events(ret)]
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

fn main() {
    assert_eq!(largest(&[1, 3, 2]), Some(&3));
    let mut map = BTreeMap::new();
    map.insert(1, "one");
    assert_eq!(lookup(&map, &1), Some(&"one"));
    assert_eq!(count([1u8, 2, 3]), 3);
    let mut store = Store { items: Vec::new() };
    assert_eq!(store.push(1u32), 1);
    assert_eq!(store.map(|v| v + 1), vec![2]);
    drop(store.first_async(7));
    assert_eq!(vec![1].describe(), "[1]");
}
