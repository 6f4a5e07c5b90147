#![deny(warnings)]

use std::fmt;
use std::io;

use herald::{instrument_events, Event};
use serde::{Deserialize, Serialize};

#[derive(Debug)]
struct ParseError(String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parse error: {}", self.0)
    }
}

impl From<std::num::ParseIntError> for ParseError {
    fn from(e: std::num::ParseIntError) -> Self {
        ParseError(e.to_string())
    }
}

#[derive(Debug)]
struct Opaque;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "parse.begun")]
struct Begun {
    input: String,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "parse.done")]
struct Done {
    value: u32,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "parse.broke")]
struct Broke {
    why: String,
}

#[instrument_events(args, ret)]
fn parse(input: &str) -> Result<u32, ParseError> {
    let value: u32 = input.trim().parse()?;
    if value == 0 {
        return Err(ParseError("zero".into()));
    }
    Ok(value)
}

#[instrument_events(
    name = "parse.custom",
    started = Begun { input: input.to_owned() },
    completed = |v: &u32| Done { value: *v },
    failed = |e: &ParseError| Broke { why: e.to_string() }
)]
fn parse_custom(input: &str) -> Result<u32, ParseError> {
    Ok(input.parse()?)
}

#[instrument_events]
fn read(path: &str) -> io::Result<String> {
    std::fs::read_to_string(path)
}

#[instrument_events]
fn opaque() -> Result<(), Opaque> {
    Err(Opaque)
}

#[instrument_events(completed = |n: &usize| Done { value: *n as u32 })]
fn length(text: &str) -> usize {
    text.len()
}

#[instrument_events(args, ret)]
async fn parse_async(input: String) -> Result<u32, ParseError> {
    let value = input.parse::<u32>()?;
    Ok(value + 1)
}

#[instrument_events]
async fn nothing() {}

#[instrument_events(failed = |e: &Box<dyn std::error::Error + Send + Sync>| Broke { why: e.to_string() })]
async fn boxed_error(input: &str) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    Ok(input.parse::<u32>()?)
}

fn main() {
    assert_eq!(parse("7").ok(), Some(7));
    assert!(parse("x").is_err());
    assert_eq!(parse_custom("3").ok(), Some(3));
    assert!(read("/nonexistent/herald").is_err());
    assert!(opaque().is_err());
    assert_eq!(length("abc"), 3);
    drop(parse_async(String::from("1")));
    drop(nothing());
    drop(boxed_error("1"));
}
