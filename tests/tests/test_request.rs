//! Request/response: correlation, timeout, no responder, handler failure, async
//! responders, and returned events' links.

use std::time::Duration;

use herald::error::RequestError;
use herald::prelude::*;
use herald::{Bus, Kind};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "request_test.stock.level", kind = "response")]
struct StockLevel {
    sku: String,
    units: u32,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "request_test.stock.ask", kind = "query", response = StockLevel)]
struct AskStock {
    sku: String,
}

#[on(AskStock, group = "request_sync")]
fn answer_stock(q: &AskStock) -> StockLevel {
    StockLevel {
        sku: q.sku.clone(),
        units: q.sku.len() as u32,
    }
}

#[on(AskStock, group = "request_async")]
async fn answer_stock_later(q: &AskStock) -> Result<StockLevel, String> {
    tokio::task::yield_now().await;
    if q.sku == "broken" {
        return Err("warehouse offline".into());
    }
    Ok(StockLevel {
        sku: q.sku.clone(),
        units: 42,
    })
}

#[on(AskStock, group = "request_silent")]
async fn never_answers(_: &AskStock) -> Option<StockLevel> {
    None
}

fn bus(group: &str) -> Bus {
    Bus::builder().group(group).build().expect("bus")
}

#[tokio::test]
async fn a_sync_responder_answers_with_correlated_response() {
    let bus = bus("request_sync");
    let level = bus
        .request(AskStock { sku: "abcd".into() })
        .await
        .expect("answered");
    assert_eq!(
        level,
        StockLevel {
            sku: "abcd".into(),
            units: 4
        }
    );
    let history = bus.history();
    assert_eq!(history.len(), 2);
    let (query, response) = (&history[0], &history[1]);
    assert_eq!(query.kind(), Kind::Query);
    assert_eq!(response.kind(), Kind::Response);
    assert_eq!(response.causation_id(), Some(query.id()));
    assert_eq!(response.parent_id(), Some(query.id()));
    assert_eq!(response.correlation_id(), query.correlation_id());
}

#[tokio::test]
async fn an_async_responder_answers_and_its_failure_is_a_distinct_error() {
    let bus = bus("request_async");
    let level = bus
        .request(AskStock { sku: "x".into() })
        .await
        .expect("answered");
    assert_eq!(level.units, 42);
    let err = bus
        .request(AskStock {
            sku: "broken".into(),
        })
        .await
        .unwrap_err();
    match err {
        RequestError::HandlerFailed { handler, error } => {
            assert!(handler.ends_with("::answer_stock_later"), "{handler}");
            assert_eq!(error, "warehouse offline");
        }
        other => panic!("expected a handler failure, got {other:?}"),
    }
}

#[tokio::test]
async fn no_responder_is_reported_at_once() {
    let bus = Bus::builder()
        .registered_handlers(false)
        .build()
        .expect("bus");
    let err = bus.request(AskStock { sku: "a".into() }).await.unwrap_err();
    assert_eq!(
        err,
        RequestError::NoResponder {
            query: "request_test.stock.ask"
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_responder_times_out_with_the_per_call_timeout() {
    let bus = Bus::builder()
        .group("request_silent")
        .request_timeout(Duration::from_secs(3600))
        .build()
        .expect("bus");
    let err = bus
        .request_within(AskStock { sku: "a".into() }, Duration::from_millis(250))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RequestError::Timeout {
            query: "request_test.stock.ask",
            after: Duration::from_millis(250)
        }
    );
}

#[tokio::test(start_paused = true)]
async fn the_builder_timeout_applies_by_default() {
    let bus = Bus::builder()
        .group("request_silent")
        .request_timeout(Duration::from_millis(40))
        .build()
        .expect("bus");
    let err = bus.request(AskStock { sku: "a".into() }).await.unwrap_err();
    assert!(
        matches!(err, RequestError::Timeout { after, .. } if after == Duration::from_millis(40))
    );
}

#[tokio::test]
async fn a_paused_responder_counts_as_none() {
    let bus = bus("request_sync");
    let name = bus.subscriptions()[0].name.clone();
    bus.pause(&name).expect("known");
    let err = bus.request(AskStock { sku: "a".into() }).await.unwrap_err();
    assert!(matches!(err, RequestError::NoResponder { .. }));
    bus.resume(&name).expect("known");
    assert!(bus.request(AskStock { sku: "a".into() }).await.is_ok());
}
