#![deny(warnings)]

use std::future::Future;

use herald::instrument_events;

trait Repository {
    async fn load(&self, id: u64) -> Result<String, String>;
    fn save(&mut self, value: String) -> impl Future<Output = usize> + Send;
}

struct Memory {
    rows: Vec<String>,
}

impl Repository for Memory {
    #[instrument_events(args, ret)]
    async fn load(&self, id: u64) -> Result<String, String> {
        let index = usize::try_from(id).map_err(|e| e.to_string())?;
        self.rows.get(index).cloned().ok_or_else(|| format!("no row {id}"))
    }

    #[instrument_events(skip(value))]
    fn save(&mut self, value: String) -> impl Future<Output = usize> + Send {
        self.rows.push(value);
        let len = self.rows.len();
        async move { len }
    }
}

trait Job {
    fn run(&self) -> impl Future<Output = u32> + Send;
}

struct Nightly;

impl Job for Nightly {
    #[instrument_events(ret)]
    async fn run(&self) -> u32 {
        7
    }
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

trait Named {
    #[instrument_events]
    fn label(&self) -> String {
        String::from("named")
    }
}

impl Named for Memory {}

fn main() {
    let mut m = Memory { rows: Vec::new() };
    drop(m.save(String::from("a")));
    drop(m.load(0));
    assert_eq!(m.label(), "named");
    drop(assert_send(Nightly.run()));
    drop(assert_send(m.load(1)));
}
