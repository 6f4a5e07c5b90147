use herald::{on, Event};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, Event)]
#[event(name = "stock.level", kind = "response")]
pub struct StockLevel {
    pub units: u32,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "stock.ask", kind = "query", response = StockLevel)]
pub struct AskStock {
    pub sku: String,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "stock.audited")]
pub struct StockAudited {
    pub sku: String,
}

#[on(AskStock)]
fn answer(q: &AskStock) -> StockAudited {
    StockAudited { sku: q.sku.clone() }
}

fn main() {}
