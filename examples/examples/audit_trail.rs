//! An audit trail that outlives the process: a bus writes every record to a SQLite
//! store, the program "restarts" (everything is dropped), and a fresh store handle
//! answers queries and prints the tree of each refund, failures included.
//!
//! Run with `cargo run --example audit_trail`; pass a path to keep the file and inspect
//! it with the command line:
//!
//! ```text
//! cargo run --example audit_trail -- /tmp/audit.db
//! cargo run -p herald --features cli --bin herald -- query --db /tmp/audit.db --pattern 'refund.**'
//! cargo run -p herald --features cli --bin herald -- tree --db /tmp/audit.db ROOT_ID
//! ```

use herald::prelude::*;
use herald::store::SqliteStore;
use herald::{Bus, Filter};

/// Notification: money went back to a customer.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "ledger.credited")]
pub struct Credited {
    pub account: String,
    pub cents: u64,
}

#[instrument_events(name = "refund.check_policy")]
fn check_policy(cents: u64) -> Result<(), String> {
    if cents > 50_000 {
        return Err(format!("{cents} cents is over the refund limit"));
    }
    Ok(())
}

#[instrument_events(name = "refund.credit")]
fn credit(account: &str, cents: u64) -> Result<(), String> {
    herald::emit(Credited {
        account: account.to_owned(),
        cents,
    });
    Ok(())
}

/// A refund: a policy check, then a credit, both nested under the refund.
#[instrument_events(name = "refund.issue")]
fn issue_refund(account: &str, cents: u64) -> Result<(), String> {
    check_policy(cents)?;
    credit(account, cents)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let kept = std::env::args().nth(1).map(std::path::PathBuf::from);
    let dir = std::env::temp_dir().join(format!("herald-audit-trail-{}", std::process::id()));
    let path = match &kept {
        Some(path) => path.clone(),
        None => {
            std::fs::create_dir_all(&dir)?;
            dir.join("audit.db")
        }
    };

    // First "process": do the work, with every record going to the store.
    {
        let store = SqliteStore::open(&path)?;
        let bus = Bus::builder()
            .registered_handlers(false)
            .store(store.clone())
            .build()?;
        herald::with_bus(&bus, || {
            for (account, cents) in [("acct-17", 1_250), ("acct-42", 90_000), ("acct-08", 400)] {
                if let Err(e) = issue_refund(account, cents) {
                    println!("refund for {account} refused: {e}");
                }
            }
        });
        // Everything emitted so far is committed once `flush` returns.
        bus.flush().await;
        println!(
            "wrote {} records to {}",
            store.metrics().written,
            path.display()
        );
    } // The bus and the store are dropped: the process "ends".

    // Second "process": only the file is left.
    let store = SqliteStore::open(&path)?;
    let refunds = store.query(&Filter::new().name("refund.issue.started"))?;
    println!("\n{} refunds on record:", refunds.len());
    for started in &refunds {
        let credited = store
            .query(
                &Filter::new()
                    .root(started.root_id())
                    .name("ledger.credited"),
            )?
            .iter()
            .filter_map(|r| r.downcast_ref::<Credited>().cloned())
            .collect::<Vec<_>>();
        println!("\nrefund {} (credited: {credited:?})", started.id());
        if let Some(tree) = store.tree(started.id())? {
            print!("{tree}");
        }
    }
    let failures = store.query(&Filter::new().name("**.failed"))?;
    println!("\nfailed operations: {}", failures.len());

    drop(store);
    if kept.is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
