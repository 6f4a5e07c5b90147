//! `#[derive(Event)]`: names, versions, kinds, ttl, phase, the shapes it accepts, and
//! the registry it fills.

use std::time::Duration;

use herald::prelude::*;
use herald::{Kind, Phase};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(
    name = "events.order.placed",
    version = 2,
    kind = "notification",
    ttl = "30s"
)]
pub struct OrderPlaced {
    pub order_id: u64,
    pub total_cents: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
pub struct ShipmentDispatched {
    pub shipment: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
pub struct HTTPRequestReceived {
    pub path: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "events.cancel_order", kind = "command", ttl = "250ms")]
pub struct CancelOrder(pub u64);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(
    name = "events.heartbeat",
    kind = "notification",
    ttl = "5m",
    phase = "progress"
)]
pub struct Heartbeat;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "events.stock_price", kind = "response")]
pub struct StockPrice {
    pub cents: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "events.get_stock_price", kind = "query", response = StockPrice)]
pub struct GetStockPrice {
    pub symbol: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "events.payment_declined", kind = "error", version = 4)]
pub enum PaymentDeclined {
    InsufficientFunds { missing_cents: u64 },
    CardExpired,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "events.tagged")]
pub struct Tagged<T> {
    pub value: T,
}

#[test]
fn constants_come_from_the_attribute() {
    assert_eq!(OrderPlaced::NAME, "events.order.placed");
    assert_eq!(OrderPlaced::VERSION, 2);
    assert_eq!(OrderPlaced::KIND, Kind::Notification);
    assert_eq!(OrderPlaced::TTL, Some(Duration::from_secs(30)));
    assert_eq!(OrderPlaced::PHASE, None);
}

#[test]
fn defaults_are_snake_case_name_version_one_notification_no_ttl() {
    assert_eq!(ShipmentDispatched::NAME, "shipment_dispatched");
    assert_eq!(ShipmentDispatched::VERSION, 1);
    assert_eq!(ShipmentDispatched::KIND, Kind::Notification);
    assert_eq!(ShipmentDispatched::TTL, None);
    assert_eq!(ShipmentDispatched::PHASE, None);
    assert_eq!(HTTPRequestReceived::NAME, "http_request_received");
}

#[test]
fn tuple_unit_and_enum_events() {
    assert_eq!(CancelOrder::NAME, "events.cancel_order");
    assert_eq!(CancelOrder::KIND, Kind::Command);
    assert_eq!(CancelOrder::TTL, Some(Duration::from_millis(250)));

    assert_eq!(Heartbeat::NAME, "events.heartbeat");
    assert_eq!(Heartbeat::TTL, Some(Duration::from_secs(300)));
    assert_eq!(Heartbeat::PHASE, Some(Phase::Progress));

    assert_eq!(PaymentDeclined::NAME, "events.payment_declined");
    assert_eq!(PaymentDeclined::VERSION, 4);
    assert_eq!(PaymentDeclined::KIND, Kind::Error);
}

#[test]
fn queries_name_their_response() {
    fn response_name<Q: herald::Query>() -> &'static str {
        <Q::Response as Event>::NAME
    }
    assert_eq!(GetStockPrice::KIND, Kind::Query);
    assert_eq!(StockPrice::KIND, Kind::Response);
    assert_eq!(response_name::<GetStockPrice>(), "events.stock_price");
}

#[test]
fn generic_events_work_but_are_not_registered() {
    assert_eq!(<Tagged<u32> as Event>::NAME, "events.tagged");
    assert_eq!(<Tagged<String> as Event>::VERSION, 1);
    assert!(herald::registry::events()
        .iter()
        .all(|d| d.name() != "events.tagged"));

    let bus = herald::Bus::builder()
        .registered_handlers(false)
        .build()
        .unwrap();
    let id = bus.emit(Tagged { value: 7_u32 });
    let record = bus.get(id).unwrap();
    assert_eq!(record.name(), "events.tagged");
    assert_eq!(
        record.downcast_ref::<Tagged<u32>>(),
        Some(&Tagged { value: 7 })
    );
    assert_eq!(record.downcast_ref::<Tagged<u64>>(), None);
}

#[test]
fn type_defaults_reach_the_envelope() {
    let bus = herald::Bus::builder()
        .registered_handlers(false)
        .build()
        .unwrap();
    let id = bus.emit(Heartbeat);
    let record = bus.get(id).unwrap();
    assert_eq!(record.phase(), Phase::Progress);
    assert_eq!(record.kind(), Kind::Notification);
    let expires = record.expires_at().unwrap();
    assert_eq!(
        expires.duration_since(record.timestamp()).unwrap(),
        Duration::from_secs(300)
    );

    let id = bus.emit(CancelOrder(9));
    let record = bus.get(id).unwrap();
    assert_eq!(record.kind(), Kind::Command);
    assert_eq!(record.version(), 1);
    assert_eq!(record.phase(), Phase::Pending);
    assert_eq!(record.downcast_ref::<CancelOrder>(), Some(&CancelOrder(9)));

    let id = bus.emit(PaymentDeclined::InsufficientFunds { missing_cents: 120 });
    let record = bus.get(id).unwrap();
    assert_eq!(record.version(), 4);
    assert_eq!(record.kind(), Kind::Error);
    assert_eq!(
        record.payload_json(),
        serde_json::json!({"InsufficientFunds": {"missing_cents": 120}})
    );
}

#[test]
fn registry_check_passes_with_unique_names() {
    assert_eq!(herald::registry::check(), Ok(()));
}

#[test]
fn registry_lists_every_non_generic_event_with_its_descriptor() {
    let events = herald::registry::events();
    let find = |name: &str| {
        let found: Vec<_> = events.iter().filter(|d| d.name() == name).collect();
        assert_eq!(found.len(), 1, "{name} registered once");
        *found[0]
    };

    let placed = find("events.order.placed");
    assert_eq!(placed.version(), 2);
    assert_eq!(placed.kind(), Kind::Notification);
    assert_eq!(placed.type_name(), std::any::type_name::<OrderPlaced>());

    let cancel = find("events.cancel_order");
    assert_eq!(cancel.kind(), Kind::Command);
    assert_eq!(cancel.type_name(), std::any::type_name::<CancelOrder>());

    assert_eq!(
        find("events.heartbeat").type_name(),
        std::any::type_name::<Heartbeat>()
    );
    assert_eq!(find("events.get_stock_price").kind(), Kind::Query);
    assert_eq!(find("events.stock_price").kind(), Kind::Response);
    assert_eq!(find("events.payment_declined").version(), 4);
    assert_eq!(find("shipment_dispatched").version(), 1);
    assert_eq!(find("http_request_received").kind(), Kind::Notification);

    // The lifecycle events are registered by herald itself.
    for name in [
        "herald.started",
        "herald.completed",
        "herald.failed",
        "herald.cancelled",
    ] {
        find(name);
    }
}

#[test]
fn registry_events_are_decodable_by_name() {
    let bus = herald::Bus::builder()
        .registered_handlers(false)
        .build()
        .unwrap();
    let id = bus.emit(OrderPlaced {
        order_id: 1,
        total_cents: 250,
    });
    let json = bus.get(id).unwrap().to_json();
    let decoded = herald::registry::decode(&json).unwrap();
    assert_eq!(
        decoded.downcast_ref::<OrderPlaced>(),
        Some(&OrderPlaced {
            order_id: 1,
            total_cents: 250
        })
    );
}
