//! An entity store whose `promote_to_root` calls `register`, which calls
//! `version_entity`: all instrumented, so the operations nest on their own.
//!
//! Run with `cargo run --example entity_lifecycle`.

use std::collections::HashMap;

use herald::prelude::*;
use herald::{Bus, Filter, Phase, Record, Uuid};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "entity.versioned")]
pub struct EntityVersioned {
    pub entity: Uuid,
    pub version: u32,
}

#[derive(Debug, Clone)]
pub struct Entity {
    pub id: Uuid,
    pub name: String,
    pub version: u32,
    pub root: bool,
}

#[derive(Default)]
pub struct EntityStore {
    entities: HashMap<Uuid, Entity>,
}

#[derive(Debug)]
pub enum StoreError {
    Unknown(Uuid),
    AlreadyRoot(Uuid),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unknown(id) => write!(f, "unknown entity {id}"),
            StoreError::AlreadyRoot(id) => write!(f, "entity {id} is already a root"),
        }
    }
}

impl std::error::Error for StoreError {}

impl EntityStore {
    pub fn insert(&mut self, name: &str) -> Uuid {
        let id = Uuid::new_v4();
        self.entities.insert(
            id,
            Entity {
                id,
                name: name.to_owned(),
                version: 0,
                root: false,
            },
        );
        id
    }

    #[instrument_events(name = "entity.promotion", args)]
    pub fn promote_to_root(&mut self, id: Uuid) -> Result<u32, StoreError> {
        let entity = self.entities.get(&id).ok_or(StoreError::Unknown(id))?;
        if entity.root {
            return Err(StoreError::AlreadyRoot(id));
        }
        let version = self.register(id)?;
        if let Some(e) = self.entities.get_mut(&id) {
            e.root = true;
        }
        Ok(version)
    }

    #[instrument_events(name = "entity.registration")]
    fn register(&mut self, id: Uuid) -> Result<u32, StoreError> {
        self.version_entity(id)
    }

    #[instrument_events(name = "entity.versioning", ret)]
    fn version_entity(&mut self, id: Uuid) -> Result<u32, StoreError> {
        let entity = self.entities.get_mut(&id).ok_or(StoreError::Unknown(id))?;
        entity.version += 1;
        let version = entity.version;
        herald::emit(EntityVersioned {
            entity: id,
            version,
        });
        Ok(version)
    }
}

#[on(EntityVersioned, group = "entity_example")]
fn log_version(ev: &EntityVersioned) {
    println!(
        "  versioned {} -> v{}",
        &ev.entity.to_string()[..8],
        ev.version
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bus = Bus::builder().group("entity_example").build()?;
    let mut store = EntityStore::default();
    let doc = store.insert("design-doc");

    herald::with_bus(&bus, || store.promote_to_root(doc))?;
    let again = herald::with_bus(&bus, || store.promote_to_root(doc));
    println!(
        "second promotion: {}",
        again.map_or_else(|e| e.to_string(), |v| v.to_string())
    );
    if let Some(e) = store.entities.get(&doc) {
        println!("entity {} is now root={} at v{}", e.name, e.root, e.version);
    }

    let roots: Vec<Record> = bus.query(&Filter::new().name("entity.promotion.started"));
    for root in roots {
        println!("\npromotion tree:");
        if let Some(tree) = bus.tree(root.id()) {
            print!("{tree}");
        }
    }
    let failures = bus.query(&Filter::new().phase(Phase::Failed));
    println!("\nfailed operations: {}", failures.len());
    Ok(())
}
