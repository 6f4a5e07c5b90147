#![deny(warnings)]

use std::fmt::Debug;

use herald::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "cache.filled")]
struct Filled<K, V>
where
    K: Ord + Debug,
{
    key: K,
    value: V,
}

#[derive(Serialize, Event)]
#[event(name = "batch.ready", version = 2, kind = "command")]
enum Batch<T: Clone, const N: usize> {
    Empty,
    Full(Vec<T>),
}

#[derive(Serialize, Event)]
#[event(name = "borrowed.text")]
struct Borrowed<'a> {
    text: &'a str,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "lookup.answer", kind = "response")]
struct Answer<T>(T);

#[derive(Serialize, Deserialize, Event)]
#[event(name = "lookup.ask", kind = "query", response = Answer<u32>)]
struct Ask<T>(T);

#[derive(Serialize, Deserialize, Event)]
#[event(name = "lookup.ask_many", kind = "query", response = "Answer<Vec<(u8, String)>>")]
struct AskMany;

fn name_of<E: Event>() -> &'static str {
    E::NAME
}

fn main() {
    assert_eq!(name_of::<Filled<u8, String>>(), "cache.filled");
    assert_eq!(<Batch<u8, 3> as Event>::VERSION, 2);
    assert_eq!(name_of::<Borrowed<'static>>(), "borrowed.text");
    assert_eq!(<Ask<String> as herald::Query>::Response::NAME, "lookup.answer");
    let _ = Filled { key: 1u8, value: () }.key;
    let _ = Filled { key: 1u8, value: () }.value;
    let _ = Batch::<u8, 1>::Empty;
    let _ = Batch::<u8, 1>::Full(vec![1u8]);
    let _ = Borrowed { text: "" }.text;
    let _ = Ask(1u8).0;
    assert_eq!(<AskMany as herald::Query>::Response::NAME, "lookup.answer");
    let _ = Answer(1u8).0;
}
