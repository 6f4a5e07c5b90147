//! Routing: by type, by pattern, by predicate, by phase / kind / source, priority order,
//! subscription control, programmatic subscriptions, async handler parameters and
//! handlers added by hand with `herald::subscription!`.

use std::sync::Mutex;

use herald::prelude::*;
use herald::{Bus, Envelope, Phase, Record};
use serde::{Deserialize, Serialize};

fn push(log: &Mutex<Vec<String>>, entry: impl Into<String>) {
    log.lock().unwrap().push(entry.into());
}

fn take(log: &Mutex<Vec<String>>) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn bus_of(group: &str) -> Bus {
    Bus::builder().group(group).build().unwrap()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "rt.ping")]
pub struct RtPing {
    pub n: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "rt.pong")]
pub struct RtPong {
    pub n: u32,
}

mod by_type {
    use super::*;

    pub static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[on(RtPing, group = "rt_by_type")]
    fn on_ping(ev: &RtPing) {
        push(&LOG, format!("ping {}", ev.n));
    }

    #[on(RtPing, group = "rt_by_type")]
    fn on_ping_envelope(env: &Envelope<RtPing>) {
        push(&LOG, format!("envelope {} {}", env.name(), env.payload().n));
    }

    #[on(RtPong, group = "rt_by_type")]
    fn on_pong(ev: &RtPong) {
        push(&LOG, format!("pong {}", ev.n));
    }
}

#[test]
fn routes_by_type() {
    let bus = bus_of("rt_by_type");
    bus.emit(RtPing { n: 1 });
    bus.emit(RtPong { n: 2 });
    assert_eq!(
        take(&by_type::LOG),
        ["ping 1", "envelope rt.ping 1", "pong 2"]
    );

    // A bus of another group does not take these handlers.
    let other = bus_of("rt_by_type_nobody");
    other.emit(RtPing { n: 3 });
    assert!(take(&by_type::LOG).is_empty());
    assert!(other.subscriptions().is_empty());
}

#[test]
fn registry_lists_on_handlers() {
    let subs = herald::registry::subscriptions();
    let ping = subs
        .iter()
        .find(|s| s.name() == "test_routing::by_type::on_ping")
        .expect("on_ping is registered");
    assert_eq!(ping.group(), "rt_by_type");
    assert_eq!(ping.event_name(), Some("rt.ping"));
    assert_eq!(ping.pattern(), None);
    assert!(!ping.is_async());

    let star = subs
        .iter()
        .find(|s| s.name() == "test_routing::by_pattern::star")
        .expect("star is registered");
    assert_eq!(star.pattern(), Some("rtp.*"));
    assert_eq!(star.event_name(), None);

    let typed = subs
        .iter()
        .find(|s| s.name() == "test_routing::async_params::typed")
        .expect("typed is registered");
    assert!(typed.is_async());
    assert_eq!(typed.group(), "rt_async_params");

    // Listed in name order.
    let names: Vec<&str> = subs.iter().map(|s| s.name()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "rtp.one")]
pub struct RtpOne;

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "rtp.one.two")]
pub struct RtpTwo;

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "rtp.one.two.three")]
pub struct RtpThree;

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "other.one")]
pub struct OtherOne;

mod by_pattern {
    use super::*;

    pub static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[on(pattern = "rtp.*", group = "rt_pattern")]
    fn star(r: &Record) {
        push(&LOG, format!("star {}", r.name()));
    }

    #[on(pattern = "rtp.**", group = "rt_pattern")]
    fn globstar(r: &Record) {
        push(&LOG, format!("globstar {}", r.name()));
    }

    #[on(pattern = "**.three", group = "rt_pattern")]
    fn suffix(r: &Record) {
        push(&LOG, format!("suffix {}", r.name()));
    }

    #[on(pattern = "*.one", group = "rt_pattern")]
    fn anyone(r: &Record) {
        push(&LOG, format!("anyone {}", r.name()));
    }

    #[on(pattern = "rtp.op.*", group = "rt_pattern")]
    fn op_lifecycle(r: &Record) {
        push(&LOG, format!("op {} {}", r.name(), r.phase()));
    }

    #[instrument_events(name = "rtp.op")]
    pub fn rtp_op() {}
}

#[test]
fn routes_by_pattern_with_one_and_many_segments() {
    let bus = bus_of("rt_pattern");
    bus.emit(RtpOne);
    assert_eq!(
        take(&by_pattern::LOG),
        ["anyone rtp.one", "globstar rtp.one", "star rtp.one"]
    );
    bus.emit(RtpTwo);
    assert_eq!(take(&by_pattern::LOG), ["globstar rtp.one.two"]);
    bus.emit(RtpThree);
    assert_eq!(
        take(&by_pattern::LOG),
        ["globstar rtp.one.two.three", "suffix rtp.one.two.three"]
    );
    bus.emit(OtherOne);
    assert_eq!(take(&by_pattern::LOG), ["anyone other.one"]);

    // Lifecycle records route by their per-operation names.
    herald::with_bus(&bus, by_pattern::rtp_op);
    assert_eq!(
        take(&by_pattern::LOG),
        [
            "globstar rtp.op.started",
            "op rtp.op.started started",
            "globstar rtp.op.completed",
            "op rtp.op.completed completed",
        ]
    );
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "rt.order")]
pub struct RtOrder {
    pub cents: u64,
}

mod by_predicate {
    use super::*;

    pub static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn is_big(order: &RtOrder) -> bool {
        order.cents >= 100
    }

    fn from_eu(record: &Record) -> bool {
        record.label("region") == Some("eu")
    }

    #[on(RtOrder, when = is_big, group = "rt_when")]
    fn big(order: &RtOrder) {
        push(&LOG, format!("big {}", order.cents));
    }

    #[on(pattern = "rt.order", when = from_eu, group = "rt_when")]
    fn eu(record: &Record) {
        push(
            &LOG,
            format!("eu {}", record.downcast_ref::<RtOrder>().unwrap().cents),
        );
    }
}

#[test]
fn routes_by_predicate() {
    let bus = bus_of("rt_when");
    bus.emit(RtOrder { cents: 50 });
    assert!(take(&by_predicate::LOG).is_empty());
    bus.emit(RtOrder { cents: 150 });
    assert_eq!(take(&by_predicate::LOG), ["big 150"]);
    bus.event(RtOrder { cents: 20 })
        .label("region", "eu")
        .emit();
    assert_eq!(take(&by_predicate::LOG), ["eu 20"]);
    bus.event(RtOrder { cents: 300 })
        .label("region", "eu")
        .emit();
    assert_eq!(take(&by_predicate::LOG), ["big 300", "eu 300"]);

    let infos = bus.subscriptions();
    assert_eq!(infos.len(), 2);
    assert!(infos.iter().all(|i| i.has_predicate));
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "rtk.task")]
pub struct RtTask {
    pub id: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "rtk.run", kind = "command")]
pub struct RtRun {
    pub id: u32,
}

mod by_filters {
    use super::*;

    pub static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[on(RtTask, phase = "failed", group = "rt_filters")]
    fn failed_tasks(t: &RtTask) {
        push(&LOG, format!("failed {}", t.id));
    }

    #[on(pattern = "rtk.**", kind = "command", group = "rt_filters")]
    fn commands(r: &Record) {
        push(&LOG, format!("command {}", r.name()));
    }

    #[on(RtTask, source = "scheduler", group = "rt_filters")]
    fn from_scheduler(t: &RtTask) {
        push(&LOG, format!("scheduler {}", t.id));
    }

    #[on(RtTask, phase = "completed", source = "worker", group = "rt_filters")]
    fn completed_by_worker(t: &RtTask) {
        push(&LOG, format!("worker done {}", t.id));
    }

    #[on(herald::Failed, group = "rt_filters")]
    fn any_failure(f: &herald::Failed) {
        push(
            &LOG,
            format!("lifecycle failed {}: {}", f.operation, f.error),
        );
    }

    #[instrument_events(name = "rtk.broken")]
    pub fn broken() -> Result<(), String> {
        Err("disk full".to_owned())
    }
}

#[test]
fn routes_by_phase_kind_and_source() {
    let bus = bus_of("rt_filters");
    bus.event(RtTask { id: 1 }).phase(Phase::Failed).emit();
    assert_eq!(take(&by_filters::LOG), ["failed 1"]);
    bus.event(RtTask { id: 2 }).source("scheduler").emit();
    assert_eq!(take(&by_filters::LOG), ["scheduler 2"]);
    bus.event(RtTask { id: 3 })
        .phase(Phase::Completed)
        .source("worker")
        .emit();
    assert_eq!(take(&by_filters::LOG), ["worker done 3"]);
    bus.event(RtTask { id: 4 })
        .phase(Phase::Completed)
        .source("scheduler")
        .emit();
    assert_eq!(take(&by_filters::LOG), ["scheduler 4"]);
    bus.emit(RtRun { id: 5 });
    assert_eq!(take(&by_filters::LOG), ["command rtk.run"]);
    bus.emit(RtTask { id: 6 });
    assert!(take(&by_filters::LOG).is_empty());

    assert_eq!(
        herald::with_bus(&bus, by_filters::broken),
        Err("disk full".to_owned())
    );
    assert_eq!(
        take(&by_filters::LOG),
        ["lifecycle failed rtk.broken: disk full"]
    );

    let info = bus
        .subscriptions()
        .into_iter()
        .find(|i| i.name == "test_routing::by_filters::completed_by_worker")
        .unwrap();
    assert_eq!(info.phase, Some(Phase::Completed));
    assert_eq!(info.source.as_deref(), Some("worker"));
    assert_eq!(info.event, Some("rtk.task"));
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "rt.prio")]
pub struct RtPrio;

mod priority {
    use super::*;

    pub static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[on(RtPrio, priority = -1, group = "rt_priority")]
    fn last(_: &RtPrio) {
        push(&LOG, "last");
    }

    #[on(RtPrio, priority = 5, name = "rt.prio.beta", group = "rt_priority")]
    fn beta(_: &RtPrio) {
        push(&LOG, "beta");
    }

    #[on(RtPrio, priority = 10, group = "rt_priority")]
    fn urgent(_: &RtPrio) {
        push(&LOG, "urgent");
    }

    #[on(RtPrio, priority = 5, name = "rt.prio.alpha", group = "rt_priority")]
    fn alpha(_: &RtPrio) {
        push(&LOG, "alpha");
    }
}

#[test]
fn higher_priority_runs_first_and_ties_go_by_name() {
    let bus = bus_of("rt_priority");
    bus.emit(RtPrio);
    assert_eq!(take(&priority::LOG), ["urgent", "alpha", "beta", "last"]);

    // A programmatic subscription (priority 0) takes its place in the same order.
    let handle = bus.subscribe::<RtPrio>(|_| push(&priority::LOG, "programmatic"));
    bus.emit(RtPrio);
    assert_eq!(
        take(&priority::LOG),
        ["urgent", "alpha", "beta", "programmatic", "last"]
    );

    let listed: Vec<(String, i32)> = bus
        .subscriptions()
        .into_iter()
        .map(|i| (i.name, i.priority))
        .collect();
    assert_eq!(
        listed,
        [
            ("test_routing::priority::urgent".to_owned(), 10),
            ("rt.prio.alpha".to_owned(), 5),
            ("rt.prio.beta".to_owned(), 5),
            (handle.name().to_owned(), 0),
            ("test_routing::priority::last".to_owned(), -1),
        ]
    );

    // Ties go by name whatever the order of subscribing.
    let _zeta = bus
        .on::<RtPrio>()
        .name("rt.prio.zeta")
        .priority(5)
        .handle(|_| push(&priority::LOG, "zeta"));
    let _gamma = bus
        .on::<RtPrio>()
        .name("rt.prio.gamma")
        .priority(5)
        .handle(|_| push(&priority::LOG, "gamma"));
    bus.emit(RtPrio);
    assert_eq!(
        take(&priority::LOG),
        [
            "urgent",
            "alpha",
            "beta",
            "gamma",
            "zeta",
            "programmatic",
            "last"
        ]
    );
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "rt.ctl")]
pub struct RtCtl;

mod control {
    use super::*;

    pub static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[on(RtCtl, name = "rt.ctl.counter", group = "rt_control")]
    fn counter(_: &RtCtl) {
        push(&LOG, "counter");
    }

    #[on(RtCtl, priority = -5, group = "rt_control")]
    fn default_named(_: &RtCtl) {
        push(&LOG, "default");
    }
}

#[test]
fn pause_resume_unsubscribe_and_list() {
    let bus = bus_of("rt_control");
    let infos = bus.subscriptions();
    let names: Vec<&str> = infos.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["rt.ctl.counter", "test_routing::control::default_named"]
    );
    let counter = &infos[0];
    assert_eq!(counter.group, "rt_control");
    assert_eq!(counter.event, Some("rt.ctl"));
    assert_eq!(counter.pattern, None);
    assert!(!counter.is_async);
    assert!(!counter.paused);
    assert_eq!((counter.delivered, counter.failed), (0, 0));

    bus.emit(RtCtl);
    assert_eq!(take(&control::LOG), ["counter", "default"]);

    bus.pause("rt.ctl.counter").unwrap();
    assert!(bus.subscriptions()[0].paused);
    bus.emit(RtCtl);
    assert_eq!(take(&control::LOG), ["default"]);

    // Pausing is per bus: another bus with the same group still delivers.
    let other = bus_of("rt_control");
    other.emit(RtCtl);
    assert_eq!(take(&control::LOG), ["counter", "default"]);

    bus.resume("rt.ctl.counter").unwrap();
    bus.emit(RtCtl);
    assert_eq!(take(&control::LOG), ["counter", "default"]);
    let counter = bus.subscriptions().into_iter().next().unwrap();
    assert!(!counter.paused);
    assert_eq!(counter.delivered, 2);

    bus.unsubscribe("rt.ctl.counter").unwrap();
    bus.emit(RtCtl);
    assert_eq!(take(&control::LOG), ["default"]);
    let names: Vec<String> = bus.subscriptions().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["test_routing::control::default_named"]);
}

#[test]
fn unknown_subscription_names_are_errors() {
    use herald::error::BusError;
    let bus = bus_of("rt_control");
    let unknown = || BusError::UnknownSubscription("rt.nobody".to_owned());
    assert_eq!(bus.pause("rt.nobody"), Err(unknown()));
    assert_eq!(bus.resume("rt.nobody"), Err(unknown()));
    assert_eq!(bus.unsubscribe("rt.nobody"), Err(unknown()));
    bus.unsubscribe("rt.ctl.counter").unwrap();
    assert_eq!(
        bus.unsubscribe("rt.ctl.counter"),
        Err(BusError::UnknownSubscription("rt.ctl.counter".to_owned()))
    );
    assert!(bus.pause("rt.ctl.counter").is_err());
}

#[test]
fn programmatic_subscriptions_unsubscribe_when_dropped() {
    static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let bus = Bus::builder().registered_handlers(false).build().unwrap();

    let typed = bus.subscribe::<RtPing>(|env| push(&LOG, format!("typed {}", env.payload().n)));
    let pattern = bus.subscribe_pattern("rt.*", |r: &Record| {
        push(&LOG, format!("pattern {}", r.name()))
    });
    assert!(typed.name().starts_with("rt.ping"));
    assert!(pattern.name().starts_with("rt.*"));
    let infos = bus.subscriptions();
    assert_eq!(infos.len(), 2);
    let pattern_info = infos.iter().find(|i| i.name == pattern.name()).unwrap();
    assert_eq!(pattern_info.pattern.as_deref(), Some("rt.*"));
    let typed_info = infos.iter().find(|i| i.name == typed.name()).unwrap();
    assert_eq!(typed_info.event, Some("rt.ping"));

    bus.emit(RtPing { n: 1 });
    bus.emit(RtPong { n: 2 });
    let mut seen = take(&LOG);
    seen.sort();
    assert_eq!(seen, ["pattern rt.ping", "pattern rt.pong", "typed 1"]);

    // Handles work with pause and resume by name.
    bus.pause(typed.name()).unwrap();
    bus.emit(RtPing { n: 3 });
    assert_eq!(take(&LOG), ["pattern rt.ping"]);
    bus.resume(typed.name()).unwrap();

    drop(typed);
    bus.emit(RtPing { n: 4 });
    assert_eq!(take(&LOG), ["pattern rt.ping"]);
    assert_eq!(bus.subscriptions().len(), 1);

    pattern.unsubscribe();
    bus.emit(RtPing { n: 5 });
    assert!(take(&LOG).is_empty());
    assert!(bus.subscriptions().is_empty());

    // A detached handle keeps its subscription until it is removed by name.
    let kept = bus.subscribe::<RtPong>(|env| push(&LOG, format!("kept {}", env.payload().n)));
    let name = kept.name().to_owned();
    kept.detach();
    bus.emit(RtPong { n: 6 });
    assert_eq!(take(&LOG), ["kept 6"]);
    bus.unsubscribe(&name).unwrap();
    bus.emit(RtPong { n: 7 });
    assert!(take(&LOG).is_empty());
}

#[test]
fn the_subscriber_builder_takes_filters_priority_and_a_name() {
    static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let bus = Bus::builder().registered_handlers(false).build().unwrap();
    let _late = bus
        .on::<RtTask>()
        .name("rt.builder.late")
        .priority(1)
        .handle(|env| push(&LOG, format!("late {}", env.payload().id)));
    let _picky = bus
        .on::<RtTask>()
        .name("rt.builder.picky")
        .priority(herald::Priority::High)
        .phase(Phase::Failed)
        .source("worker")
        .when(|t: &RtTask| t.id > 1)
        .handle(|env| push(&LOG, format!("picky {}", env.payload().id)));
    let _commands = bus
        .on_pattern("rtk.*")
        .name("rt.builder.commands")
        .kind(herald::Kind::Command)
        .when(|r: &Record| r.label("lane") == Some("fast"))
        .handle(|r: &Record| push(&LOG, format!("command {}", r.name())));

    bus.event(RtTask { id: 1 })
        .phase(Phase::Failed)
        .source("worker")
        .emit();
    assert_eq!(take(&LOG), ["late 1"]);
    bus.event(RtTask { id: 2 })
        .phase(Phase::Failed)
        .source("worker")
        .emit();
    assert_eq!(take(&LOG), ["picky 2", "late 2"]);
    bus.event(RtTask { id: 3 })
        .phase(Phase::Failed)
        .source("cron")
        .emit();
    assert_eq!(take(&LOG), ["late 3"]);
    bus.event(RtRun { id: 4 }).label("lane", "fast").emit();
    bus.event(RtRun { id: 5 }).label("lane", "slow").emit();
    assert_eq!(take(&LOG), ["command rtk.run"]);

    let listed: Vec<(String, i32)> = bus
        .subscriptions()
        .into_iter()
        .map(|i| (i.name, i.priority))
        .collect();
    assert_eq!(
        listed,
        [
            ("rt.builder.picky".to_owned(), 8),
            ("rt.builder.late".to_owned(), 1),
            ("rt.builder.commands".to_owned(), 0),
        ]
    );
    bus.pause("rt.builder.late").unwrap();
    bus.event(RtTask { id: 6 }).emit();
    assert!(take(&LOG).is_empty());
}

mod async_params {
    use super::*;

    pub static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[on(RtPong, group = "rt_async_params")]
    async fn typed(ev: &RtPong) {
        tokio::task::yield_now().await;
        push(&LOG, format!("typed {}", ev.n));
    }

    #[on(RtPong, group = "rt_async_params")]
    async fn enveloped(env: &Envelope<RtPong>) {
        tokio::task::yield_now().await;
        push(&LOG, format!("envelope {} {}", env.name(), env.payload().n));
    }

    #[on(pattern = "rt.pong", group = "rt_async_params")]
    async fn recorded(r: &Record) {
        tokio::task::yield_now().await;
        push(
            &LOG,
            format!("record {}", r.downcast_ref::<RtPong>().unwrap().n),
        );
    }
}

#[tokio::test]
async fn async_handlers_take_the_same_parameters() {
    let bus = bus_of("rt_async_params");
    assert!(bus.subscriptions().iter().all(|i| i.is_async));
    let delivery = bus.emit_and_wait(RtPong { n: 8 }).await;
    assert_eq!((delivery.handled, delivery.failed), (3, 0));
    let mut seen = take(&async_params::LOG);
    seen.sort();
    assert_eq!(seen, ["envelope rt.pong 8", "record 8", "typed 8"]);
}

mod manual {
    use super::*;

    pub static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[on(RtPong, group = "rt_manual")]
    pub fn counted(ev: &RtPong) {
        push(&LOG, format!("counted {}", ev.n));
    }
}

#[test]
fn handlers_can_be_added_by_hand() {
    let bus = Bus::builder()
        .registered_handlers(false)
        .subscription(herald::subscription!(manual::counted))
        .build()
        .unwrap();
    bus.emit(RtPong { n: 1 });
    assert_eq!(take(&manual::LOG), ["counted 1"]);
    let names: Vec<String> = bus.subscriptions().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["test_routing::manual::counted"]);

    // Added by hand and registered: it still runs once.
    let both = Bus::builder()
        .group("rt_manual")
        .subscription(herald::subscription!(manual::counted))
        .build()
        .unwrap();
    both.emit(RtPong { n: 2 });
    assert_eq!(take(&manual::LOG), ["counted 2"]);
}
