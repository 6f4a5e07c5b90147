//! Request/response: correlation, timeout, no responder, no answer, handler failure,
//! async responders, and returned events' links.

use std::sync::atomic::{AtomicU32, Ordering};
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

static SILENT_RUNS: AtomicU32 = AtomicU32::new(0);

#[on(AskStock, group = "request_silent")]
async fn never_answers(_: &AskStock) -> Option<StockLevel> {
    SILENT_RUNS.fetch_add(1, Ordering::SeqCst);
    None
}

#[on(AskStock, group = "request_slow")]
async fn answers_in_an_hour(q: &AskStock) -> StockLevel {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    StockLevel {
        sku: q.sku.clone(),
        units: 0,
    }
}

// Two responders: one passes (`None`), the other answers after a retry.
#[on(AskStock, group = "request_mixed", priority = 10)]
fn passes(_: &AskStock) -> Option<StockLevel> {
    None
}

static MIXED_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[on(AskStock, group = "request_mixed", retry = 1, backoff = "1ms")]
async fn answers_on_the_second_attempt(q: &AskStock) -> Result<StockLevel, String> {
    if MIXED_ATTEMPTS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err("not yet".into());
    }
    Ok(StockLevel {
        sku: q.sku.clone(),
        units: 7,
    })
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

#[tokio::test]
async fn a_silent_responder_fails_the_request_when_it_finishes_not_at_the_timeout() {
    let bus = Bus::builder()
        .group("request_silent")
        .request_timeout(Duration::from_secs(3600))
        .build()
        .expect("bus");
    let err = bus.request(AskStock { sku: "a".into() }).await.unwrap_err();
    assert_eq!(
        err,
        RequestError::NoAnswer {
            query: "request_test.stock.ask"
        }
    );
    assert_eq!(SILENT_RUNS.load(Ordering::SeqCst), 1, "the responder ran");
}

#[tokio::test]
async fn one_responders_none_lets_anothers_answer_win_after_its_retry() {
    let bus = bus("request_mixed");
    let level = bus
        .request(AskStock { sku: "ab".into() })
        .await
        .expect("the second responder answers on its retry");
    assert_eq!(level.units, 7);
    assert_eq!(MIXED_ATTEMPTS.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn with_a_transport_a_remote_responder_may_answer_so_only_the_timeout_ends_it() {
    let link = herald::transport::InMemory::new();
    let bus = Bus::builder()
        .group("request_silent")
        .transport(link.clone())
        .build()
        .expect("bus");
    let err = bus
        .request_within(AskStock { sku: "a".into() }, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::Timeout { .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn a_slow_responder_times_out_with_the_per_call_timeout() {
    let bus = Bus::builder()
        .group("request_slow")
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
        .group("request_slow")
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
