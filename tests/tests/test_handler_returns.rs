//! Events returned by handlers (`R`, `Option<R>`, `Result<R, E>`, sync and async,
//! `#[on]` and programmatic) are emitted as children of the handled event.

use herald::prelude::*;
use herald::{Bus, Filter, Record};
use serde::{Deserialize, Serialize};

fn bus_of(group: &str) -> Bus {
    Bus::builder().group(group).build().unwrap()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "rt.cmd", kind = "command")]
pub struct RtCmd {
    pub n: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "rt.reply")]
pub struct RtReply {
    pub n: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "rt.maybe")]
pub struct RtMaybe {
    pub n: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "rt.checked")]
pub struct RtChecked {
    pub n: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "rt.later")]
pub struct RtLater {
    pub n: u32,
}

mod returned {
    use super::*;

    #[on(RtCmd, group = "rt_returned")]
    fn reply(cmd: &RtCmd) -> RtReply {
        RtReply { n: cmd.n }
    }

    #[on(RtCmd, group = "rt_returned")]
    fn maybe(cmd: &RtCmd) -> Option<RtMaybe> {
        cmd.n.is_multiple_of(2).then_some(RtMaybe { n: cmd.n })
    }

    #[on(RtCmd, group = "rt_returned")]
    fn checked(cmd: &RtCmd) -> Result<RtChecked, String> {
        if cmd.n > 100 {
            Err(format!("{} is too large", cmd.n))
        } else {
            Ok(RtChecked { n: cmd.n })
        }
    }

    #[on(RtCmd, group = "rt_returned")]
    async fn later(cmd: &RtCmd) -> RtLater {
        tokio::task::yield_now().await;
        RtLater { n: cmd.n }
    }

    #[instrument_events(name = "rt.dispatcher")]
    pub fn dispatch(bus: &Bus, n: u32) -> herald::Uuid {
        bus.emit(RtCmd { n })
    }
}

/// The names of the children of `parent` in history, checking their links.
fn children_of(bus: &Bus, parent: &Record) -> Vec<String> {
    let mut names = Vec::new();
    for r in bus.history() {
        if r.parent_id() == Some(parent.id()) {
            assert_eq!(r.causation_id(), Some(parent.id()), "{}", r.name());
            assert_eq!(r.root_id(), parent.root_id(), "{}", r.name());
            assert_eq!(r.correlation_id(), parent.correlation_id(), "{}", r.name());
            names.push(r.name().to_owned());
        }
    }
    names.sort();
    names
}

#[tokio::test]
async fn returned_events_are_children_of_the_handled_event() {
    let bus = bus_of("rt_returned");

    let even = bus.emit_and_wait(RtCmd { n: 2 }).await;
    assert_eq!((even.handled, even.failed), (4, 0));
    let cmd = bus.get(even.id).unwrap();
    assert_eq!(
        children_of(&bus, &cmd),
        ["rt.checked", "rt.later", "rt.maybe", "rt.reply"]
    );
    let reply = bus.query(&Filter::new().name("rt.reply"));
    assert_eq!(reply.len(), 1);
    assert_eq!(reply[0].downcast_ref::<RtReply>(), Some(&RtReply { n: 2 }));

    // `None` emits nothing; `Err` emits nothing and is a handler failure.
    let odd = bus.emit_and_wait(RtCmd { n: 101 }).await;
    assert_eq!((odd.handled, odd.failed), (3, 1));
    let cmd = bus.get(odd.id).unwrap();
    assert_eq!(children_of(&bus, &cmd), ["rt.later", "rt.reply"]);
    let letters = bus.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].handler(),
        "test_handler_returns::returned::checked"
    );
    assert_eq!(letters[0].error(), "101 is too large");
    assert_eq!(letters[0].record().id(), odd.id);
}

#[tokio::test]
async fn returned_events_nest_inside_instrumented_calls() {
    let bus = bus_of("rt_returned");
    let cmd_id = herald::scope(&bus, async { returned::dispatch(&bus, 4) }).await;
    bus.flush().await;
    let cmd = bus.get(cmd_id).unwrap();
    let started = &bus.query(&Filter::new().name("rt.dispatcher.started"))[0];
    assert_eq!(cmd.parent_id(), Some(started.id()));
    assert_eq!(cmd.root_id(), started.id());
    assert_eq!(
        children_of(&bus, &cmd),
        ["rt.checked", "rt.later", "rt.maybe", "rt.reply"]
    );
}

#[test]
fn programmatic_handlers_may_return_events() {
    let bus = Bus::builder().registered_handlers(false).build().unwrap();
    let _reply = bus.on::<RtCmd>().handle(|env| RtReply {
        n: env.payload().n + 1,
    });
    let _maybe = bus
        .on::<RtCmd>()
        .handle(|env| (env.payload().n > 10).then_some(RtMaybe { n: 0 }));
    let _checked = bus
        .on::<RtCmd>()
        .handle(|env| -> Result<RtChecked, String> { Ok(RtChecked { n: env.payload().n }) });
    let id = bus.emit(RtCmd { n: 1 });
    let cmd = bus.get(id).unwrap();
    assert_eq!(children_of(&bus, &cmd), ["rt.checked", "rt.reply"]);
    let reply = &bus.query(&Filter::new().name("rt.reply"))[0];
    assert_eq!(reply.downcast_ref::<RtReply>(), Some(&RtReply { n: 2 }));
}
