#![deny(warnings)]

use herald::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed", version = 2, kind = "notification", ttl = "30s")]
pub struct OrderPlaced {
    pub order_id: u64,
}

#[derive(Serialize, Deserialize, Event)]
struct HTTPServerStarted(u16);

#[derive(Serialize, Deserialize, Event)]
#[event(kind = "command", ttl = "250ms", phase = "started")]
struct Ping;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "payment.state")]
enum PaymentState {
    Pending,
    Settled { amount: u64 },
    Refunded(u64),
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "stock.level", kind = "response")]
struct StockLevel {
    units: u32,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "stock.get", kind = "query", response = StockLevel, ttl = "5m")]
struct GetStock {
    sku: String,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "user.renamed", version = 3, migrate = migrations::user_renamed)]
struct UserRenamed {
    name: String,
}

mod migrations {
    pub fn user_renamed(_from: u32, value: serde_json::Value) -> Result<serde_json::Value, String> {
        Ok(value)
    }
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "job.failed", kind = "error", phase = "failed", ttl = "1h")]
struct JobFailed {
    reason: String,
}

#[derive(Serialize, Deserialize, Event)]
#[event(kind = "notification", ttl = "10us")]
struct r#Tick;

fn main() {
    assert_eq!(OrderPlaced::NAME, "order.placed");
    assert_eq!(OrderPlaced::VERSION, 2);
    assert_eq!(HTTPServerStarted::NAME, "http_server_started");
    assert_eq!(Ping::NAME, "ping");
    assert_eq!(Ping::KIND, herald::Kind::Command);
    assert_eq!(Ping::TTL, Some(std::time::Duration::from_millis(250)));
    assert_eq!(Ping::PHASE, Some(herald::Phase::Started));
    assert_eq!(PaymentState::NAME, "payment.state");
    assert_eq!(<GetStock as herald::Query>::Response::NAME, "stock.level");
    assert_eq!(GetStock::TTL, Some(std::time::Duration::from_secs(300)));
    assert_eq!(UserRenamed::VERSION, 3);
    assert_eq!(JobFailed::KIND, herald::Kind::Error);
    assert_eq!(Tick::NAME, "tick");
    let _ = (
        PaymentState::Pending,
        PaymentState::Settled { amount: 1 },
        PaymentState::Refunded(1),
        StockLevel { units: 1 }.units,
        GetStock { sku: String::new() }.sku,
        UserRenamed { name: String::new() }.name,
        JobFailed { reason: String::new() }.reason,
        HTTPServerStarted(80).0,
    );
}
