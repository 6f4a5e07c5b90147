//! Redis for `herald tail --redis` and `herald replay`: plain stream reads and writes,
//! in the entry layout of the Redis transport (fields `origin` and `json`).

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig};
use uuid::Uuid;

use super::CliError;

/// Entries sent per round trip by [`send`].
const CHUNK: usize = 512;

async fn connect(url: &str) -> Result<MultiplexedConnection, CliError> {
    let client = redis::Client::open(url).map_err(|e| CliError::redis(url, e))?;
    // No response timeout: a blocking read waits longer than the default allows.
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| CliError::redis(url, e))
}

/// Reads the entries added to `stream` from now on and hands each one's `json` field
/// (`None` when it has none) and entry id to `each`, until `each` returns `false`.
pub(super) async fn follow(
    url: &str,
    stream: &str,
    mut each: impl FnMut(&str, Option<String>) -> Result<bool, CliError>,
) -> Result<(), CliError> {
    let mut conn = connect(url).await?;
    let mut last = "$".to_owned();
    let options = StreamReadOptions::default().block(1_000).count(256);
    loop {
        let reply: Option<StreamReadReply> = conn
            .xread_options(&[stream], &[last.as_str()], &options)
            .await
            .map_err(|e| CliError::redis(url, e))?;
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                let json: Option<String> = entry.get("json");
                if !each(&entry.id, json)? {
                    return Ok(());
                }
                last = entry.id;
            }
        }
    }
}

/// Appends one entry per JSON record to `stream`, under a fresh origin id; returns how
/// many were sent.
pub(super) async fn send(url: &str, stream: &str, records: &[String]) -> Result<usize, CliError> {
    let mut conn = connect(url).await?;
    let origin = Uuid::new_v4().to_string();
    for chunk in records.chunks(CHUNK) {
        let mut pipe = redis::pipe();
        for json in chunk {
            pipe.cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("origin")
                .arg(&origin)
                .arg("json")
                .arg(json)
                .ignore();
        }
        let () = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| CliError::redis(url, e))?;
    }
    Ok(records.len())
}
