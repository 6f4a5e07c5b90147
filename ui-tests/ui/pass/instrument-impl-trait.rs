#![deny(warnings)]

use std::fmt::Debug;

use herald::instrument_events;

#[instrument_events(ret)]
fn evens(limit: u32) -> impl Iterator<Item = u32> + Debug {
    (0..limit).filter(|n| n % 2 == 0).collect::<Vec<_>>().into_iter()
}

#[instrument_events(args)]
fn boxed(limit: u32) -> Box<dyn Iterator<Item = u32>> {
    if limit == 0 {
        return Box::new(std::iter::empty());
    }
    Box::new(0..limit)
}

#[instrument_events]
async fn later(value: u32) -> impl Debug {
    value * 2
}

#[instrument_events]
fn closure() -> impl Fn(u32) -> u32 {
    |x| x + 1
}

#[instrument_events]
fn give_up(reason: &str) -> ! {
    panic!("{reason}")
}

#[instrument_events]
async fn give_up_later(reason: String) -> ! {
    panic!("{reason}")
}

fn main() {
    let _: fn(&str) -> ! = give_up;
    drop(give_up_later(String::new()));
    assert_eq!(evens(5).count(), 3);
    assert_eq!(boxed(0).count(), 0);
    assert_eq!(closure()(1), 2);
    drop(later(1));
}
