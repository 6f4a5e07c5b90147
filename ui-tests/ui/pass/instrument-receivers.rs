#![deny(warnings)]

use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use herald::instrument_events;

#[derive(Debug, Default)]
struct Counter {
    value: u32,
}

impl Counter {
    #[instrument_events]
    fn new() -> Self {
        Self { value: 0 }
    }

    #[instrument_events(ret)]
    fn get(&self) -> u32 {
        self.value
    }

    #[instrument_events(args)]
    fn add(&mut self, by: u32) {
        self.value += by;
    }

    #[instrument_events]
    fn value_mut(&mut self) -> &mut u32 {
        &mut self.value
    }

    #[instrument_events]
    fn name(&self) -> &str {
        "counter"
    }

    #[instrument_events]
    fn into_value(self) -> u32 {
        self.value
    }

    #[instrument_events]
    fn reset(mut self) -> Self {
        self.value = 0;
        self
    }

    #[instrument_events]
    fn boxed(self: Box<Self>) -> u32 {
        self.value
    }

    #[instrument_events]
    fn shared(self: Rc<Self>) -> u32 {
        self.value
    }

    #[instrument_events]
    fn arced(self: &Arc<Self>) -> u32 {
        self.value
    }

    #[instrument_events]
    fn pinned(self: Pin<&mut Self>) -> u32 {
        Pin::into_inner(self).value
    }

    #[instrument_events(name = "counter.bump", root)]
    async fn bump(&mut self) -> u32 {
        self.value += 1;
        Self::helper(self.value)
    }

    #[instrument_events]
    async fn consume(self) -> u32 {
        self.value
    }

    #[instrument_events]
    async fn boxed_async(self: Box<Self>) -> u32 {
        self.get()
    }

    fn helper(v: u32) -> u32 {
        v
    }
}

fn main() {
    let mut c = Counter::new();
    c.add(2);
    *c.value_mut() += 1;
    assert_eq!(c.get(), 3);
    assert_eq!(c.name(), "counter");
    drop(c.bump());
    let c = c.reset();
    assert_eq!(Box::new(Counter::default()).boxed(), 0);
    assert_eq!(Rc::new(Counter::default()).shared(), 0);
    assert_eq!(Arc::new(Counter::default()).arced(), 0);
    let mut p = Counter::default();
    assert_eq!(Pin::new(&mut p).pinned(), 0);
    drop(Counter::default().consume());
    drop(Box::new(Counter::default()).boxed_async());
    assert_eq!(c.into_value(), 0);
}
