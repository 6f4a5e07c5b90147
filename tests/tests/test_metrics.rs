//! Metrics: counts match what was delivered, latency histograms per handler and per
//! name, queue depth, JSON and Prometheus renderings.

use herald::prelude::*;
use herald::Bus;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "metrics_test.tick")]
struct Tick {
    n: u32,
}

#[test]
fn counts_and_latency_match_deliveries() {
    let bus = Bus::builder()
        .registered_handlers(false)
        .history(0)
        .build()
        .expect("bus");
    let _ok = bus
        .on::<Tick>()
        .name("even_only")
        .handle(|ev| -> Result<(), String> {
            if ev.payload().n % 2 == 0 {
                Ok(())
            } else {
                Err(format!("odd {}", ev.payload().n))
            }
        });
    for n in 0..100 {
        bus.emit(Tick { n });
    }
    let m = bus.metrics();
    assert_eq!(m.emitted, 100);
    assert_eq!(m.delivered, 50);
    assert_eq!(m.failed, 50);
    assert_eq!(m.dead_lettered, 50);
    let handler = &m.handlers["even_only"];
    assert_eq!((handler.delivered, handler.failed), (50, 50));
    // The first 1,024 invocations of a handler are all timed.
    assert_eq!(handler.latency.count, 100);
    assert!(handler.latency.max_ns >= handler.latency.p99_ns);
    assert!(handler.latency.p99_ns >= handler.latency.p50_ns);
    let name = &m.names["metrics_test.tick"];
    assert_eq!(name.emitted, 100);
    assert_eq!(name.failed, 50);
    assert_eq!(name.latency.count, 100);
}

#[test]
fn renders_json_and_prometheus() {
    let bus = Bus::builder()
        .registered_handlers(false)
        .history(0)
        .build()
        .expect("bus");
    let _sub = bus.on::<Tick>().name("counter \"q\"").handle(|_| {});
    bus.emit(Tick { n: 1 });
    let m = bus.metrics();
    let json: serde_json::Value = serde_json::from_str(&m.to_json()).expect("valid JSON");
    assert_eq!(json["emitted"], 1);
    assert_eq!(json["handlers"]["counter \"q\""]["delivered"], 1);
    assert_eq!(json["names"]["metrics_test.tick"]["emitted"], 1);
    let text = m.to_prometheus();
    assert!(
        text.contains("# TYPE herald_emitted_total counter\nherald_emitted_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains(r#"herald_handler_delivered_total{handler="counter \"q\""} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"herald_name_emitted_total{name="metrics_test.tick"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"herald_handler_latency_seconds_count{handler="counter \"q\""} 1"#),
        "{text}"
    );
}
