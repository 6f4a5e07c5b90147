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
}
