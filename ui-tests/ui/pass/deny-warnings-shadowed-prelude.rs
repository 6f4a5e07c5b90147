//! The expansions never rely on the user's prelude: every name below shadows a std
//! one, and the crate denies warnings.
#![deny(warnings)]
#![allow(dead_code, unused_macros)]

use ::herald::{instrument_events, on, subscription, Envelope, Event, Record};
use ::serde::{Deserialize, Serialize};

struct Result;
struct Option;
struct Some;
struct None;
struct Ok;
struct Err;
struct Box;
struct String;
struct Vec;
struct Send;
struct Sync;
struct Clone;
struct Default;
struct Fn;
struct FnOnce;
struct Into;
struct From;
struct Iterator;
struct Debug;
struct Display;
mod core {}
macro_rules! concat {
    ($($t:tt)*) => {
        compile_error!("the user's concat! was used")
    };
}
macro_rules! module_path {
    () => {
        compile_error!("the user's module_path! was used")
    };
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed", version = 2, kind = "command", ttl = "30s", phase = "started")]
pub struct OrderPlaced {
    pub order_id: ::core::primitive::u64,
}

#[derive(Serialize, Deserialize, Event)]
#[event(kind = "response")]
pub struct Answer(::core::primitive::u32);

#[derive(Serialize, Deserialize, Event)]
#[event(kind = "query", response = Answer, migrate = migrate_question)]
pub struct Question;

#[derive(Serialize, Deserialize, Event)]
pub struct Wrapper<T> {
    pub inner: T,
}

fn migrate_question(
    _from: ::core::primitive::u32,
    value: ::serde_json::Value,
) -> ::core::result::Result<::serde_json::Value, ::std::string::String> {
    ::core::result::Result::Ok(value)
}

fn is_big(order: &OrderPlaced) -> ::core::primitive::bool {
    order.order_id > 10
}

fn any_record(_: &Record) -> ::core::primitive::bool {
    true
}

#[on(OrderPlaced, when = is_big, priority = -1, phase = "started", kind = "command", source = "shop")]
fn on_order(order: &OrderPlaced) -> ::core::result::Result<(), ::std::string::String> {
    let _ = order.order_id;
    ::core::result::Result::Ok(())
}

#[on(OrderPlaced)]
fn on_envelope(order: &Envelope<OrderPlaced>) -> ::core::option::Option<Answer> {
    ::core::option::Option::Some(Answer(::core::primitive::u32::try_from(order.payload().order_id).unwrap_or(0)))
}

#[on(pattern = "order.*", when = any_record, name = "orders.any", group = "shadowed")]
fn on_record(_: &Record) {}

#[on(Question)]
fn answer(_: &Question) -> Answer {
    Answer(42)
}

#[on(OrderPlaced, when = is_big)]
async fn on_order_async(order: &OrderPlaced) -> ::core::result::Result<Answer, ::std::string::String> {
    ::core::result::Result::Ok(Answer(::core::primitive::u32::try_from(order.order_id).map_err(|e| e.to_string())?))
}

#[on(pattern = "**", when = any_record)]
async fn on_record_async(_: &Record) {}

#[derive(Debug)]
pub struct Failure;

impl ::core::fmt::Display for Failure {
    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
        f.write_str("failure")
    }
}

#[instrument_events(args, ret)]
fn parse(text: &::core::primitive::str) -> ::core::result::Result<::core::primitive::u32, ::core::num::ParseIntError> {
    let value: ::core::primitive::u32 = text.parse()?;
    ::core::result::Result::Ok(value)
}

#[instrument_events(
    name = "shadowed.custom",
    root,
    started = OrderPlaced { order_id: id },
    completed = |v: &::core::primitive::u32| Answer(*v),
    failed = |_: &Failure| Answer(0)
)]
fn custom(id: ::core::primitive::u64) -> ::core::result::Result<::core::primitive::u32, Failure> {
    if id == 0 {
        return ::core::result::Result::Err(Failure);
    }
    ::core::result::Result::Ok(1)
}

#[instrument_events(skip(b))]
fn sum(a: ::core::primitive::u32, b: ::core::primitive::u32) -> ::core::primitive::u32 {
    a + b
}

#[instrument_events(args, ret)]
async fn parse_async(text: ::std::string::String) -> ::core::result::Result<::core::primitive::u32, ::core::num::ParseIntError> {
    let value: ::core::primitive::u32 = text.parse()?;
    ::core::result::Result::Ok(value)
}

#[instrument_events]
async fn unit_async() {}

pub struct Service {
    count: ::core::primitive::u32,
}

impl Service {
    #[instrument_events(ret)]
    fn get(&self) -> ::core::primitive::u32 {
        self.count
    }

    #[instrument_events(args)]
    fn add(&mut self, by: ::core::primitive::u32) {
        self.count += by;
    }

    #[instrument_events]
    fn into_boxed(self: ::std::boxed::Box<Self>) -> ::core::primitive::u32 {
        self.count
    }

    #[instrument_events(completed = |n: &::core::primitive::u32| Answer(*n))]
    async fn read(&self) -> ::core::primitive::u32 {
        self.count
    }
}

fn main() {
    let _ = (Result, Option, Some, None, Ok, Err, Box, String, Vec, Send, Sync, Clone, Default);
    let _ = (Fn, FnOnce, Into, From, Iterator, Debug, Display);
    let _ = [
        subscription!(on_order),
        subscription!(on_envelope),
        subscription!(on_record),
        subscription!(answer),
        subscription!(on_order_async),
        subscription!(on_record_async),
    ];
    let _ = <Wrapper<::core::primitive::u8> as Event>::NAME;
    let _ = Wrapper { inner: 1_u8 }.inner;
    let _ = OrderPlaced::NAME;
    let _ = Question::NAME;
    let _ = parse("1");
    let _ = custom(1);
    let _ = sum(1, 2);
    let _ = parse_async(::std::string::String::from("1"));
    let _ = unit_async();
    let mut service = Service { count: 0 };
    service.add(1);
    let _ = service.get();
    let _ = service.read();
    let _ = ::std::boxed::Box::new(service).into_boxed();
}
