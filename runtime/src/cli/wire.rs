//! Redis for `herald tail --redis` and `herald replay`: plain stream reads and writes,
//! through the Redis transport's own connections and entry layout.

use std::time::Duration;

use redis::Value;
use uuid::Uuid;

use super::CliError;
use crate::transport::redis::wire;

/// Entries sent per round trip by [`send`].
const CHUNK: usize = 512;
/// How long one read waits for new entries.
const BLOCK: Duration = Duration::from_secs(1);

/// Reads the entries added to `stream` from now on and hands each one's id and `json`
/// field (empty when it has none) to `each`, until `each` returns `false`.
pub(super) async fn follow(
    url: &str,
    stream: &str,
    mut each: impl FnMut(&str, &str) -> Result<bool, CliError>,
) -> Result<(), CliError> {
    let failed = |e| CliError::redis(url, e);
    let client = wire::client(url, None).map_err(failed)?;
    let (mut conn, driver) = wire::connect(&client, BLOCK).await.map_err(failed)?;
    wire::drive(driver, async {
        let mut last = "$".to_owned();
        loop {
            let reply: Value = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(256)
                .arg("BLOCK")
                .arg(BLOCK.as_millis().to_string())
                .arg("STREAMS")
                .arg(stream)
                .arg(&last)
                .query_async(&mut conn)
                .await
                .map_err(failed)?;
            for entry in wire::read_reply(reply) {
                let json = entry.body.as_ref().map_or("", |b| b.json.as_str());
                if !each(&entry.id, json)? {
                    return Ok(());
                }
                last = entry.id;
            }
        }
    })
    .await
}

/// Appends one entry per JSON record to `stream`, under a fresh origin id; returns how
/// many were sent.
pub(super) async fn send(url: &str, stream: &str, records: &[String]) -> Result<usize, CliError> {
    let failed = |e| CliError::redis(url, e);
    let client = wire::client(url, None).map_err(failed)?;
    let (mut conn, driver) = wire::connect(&client, Duration::ZERO)
        .await
        .map_err(failed)?;
    let origin = Uuid::new_v4().to_string();
    wire::drive(driver, async {
        for chunk in records.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for json in chunk {
                wire::add_entry(&mut pipe, stream, None, &origin, json);
            }
            pipe.query_async::<Value>(&mut conn).await.map_err(failed)?;
        }
        Ok(records.len())
    })
    .await
}
