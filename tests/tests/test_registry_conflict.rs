//! Two event types registered under one name: `registry::check` and every bus build
//! report both types. (Its own test binary: the conflict poisons every build in it.)

use herald::prelude::*;
use serde::{Deserialize, Serialize};

mod billing {
    use super::*;

    #[derive(Clone, Debug, Serialize, Deserialize, Event)]
    #[event(name = "conflict.invoice_sent")]
    pub struct InvoiceSent {
        pub invoice: u64,
    }
}

mod mailing {
    use super::*;

    #[derive(Clone, Debug, Serialize, Deserialize, Event)]
    #[event(name = "conflict.invoice_sent")]
    pub struct InvoiceSent {
        pub address: String,
    }
}

fn both_types() -> Vec<String> {
    let mut types = vec![
        std::any::type_name::<billing::InvoiceSent>().to_owned(),
        std::any::type_name::<mailing::InvoiceSent>().to_owned(),
    ];
    types.sort();
    types
}

#[test]
fn check_names_both_types() {
    let err = herald::registry::check().unwrap_err();
    assert_eq!(err.name, "conflict.invoice_sent");
    assert_eq!(err.types, both_types());
    let text = err.to_string();
    for ty in both_types() {
        assert!(text.contains(&ty), "{text} names {ty}");
    }
}

#[test]
fn every_bus_build_fails_with_the_conflict() {
    let err = herald::Bus::builder()
        .registered_handlers(false)
        .build()
        .unwrap_err();
    match err {
        herald::error::BuildError::Registry(e) => {
            assert_eq!(e.name, "conflict.invoice_sent");
            assert_eq!(e.types, both_types());
        }
        other => panic!("unexpected build error: {other}"),
    }
}

#[test]
fn both_types_are_listed() {
    let listed: Vec<_> = herald::registry::events()
        .into_iter()
        .filter(|d| d.name() == "conflict.invoice_sent")
        .map(|d| d.type_name().to_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(listed, both_types());
}
