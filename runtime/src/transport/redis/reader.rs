//! The reading tasks: a reader per consumer group, and the reclaimer that takes over
//! the entries of consumers that stopped acknowledging.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{Client, RedisError, Value};

use super::wire::{self, Backoff, StreamEntry};
use super::{Config, State};
use crate::transport::{Audience, Inbox, Incoming};

/// The reclaimer's shortest period.
const MIN_SWEEP_PERIOD: Duration = Duration::from_millis(50);
/// How often a sleeping reclaimer looks whether its bus is gone.
const CLOSED_CHECK: Duration = Duration::from_secs(1);
/// The most entries one read takes from the shared group.
const SHARED_BATCH: usize = 8;
/// How often a reader whose bus wants none of its group's records looks again.
const IDLE_CHECK: Duration = Duration::from_millis(20);
/// Pages of `XAUTOCLAIM` per group and sweep, so that one sweep always ends.
const MAX_PAGES: usize = 64;

/// Delivers `entries` in order; returns the ids to acknowledge, and whether the bus
/// is gone (delivery stopped there: the rest stays pending, for another consumer).
///
/// `deliveries` holds how many times the stream handed out entries read again (pending
/// or taken over); an entry past the cap is dead-lettered instead of delivered. An
/// entry whose handling panicked is dead-lettered by the inbox. Either is
/// acknowledged.
async fn deliver_all<'a>(
    inbox: &Inbox,
    config: &Config,
    entries: &'a [StreamEntry],
    audience: Audience,
    deliveries: &HashMap<String, u64>,
) -> (Vec<&'a str>, bool) {
    let mut done = Vec::with_capacity(entries.len());
    for entry in entries {
        // An entry without a body was trimmed away: there is nothing left to deliver.
        if let Some(body) = &entry.body {
            let times = deliveries.get(&entry.id).copied().unwrap_or(1);
            let mut incoming = Incoming::new(&body.json)
                .audience(audience)
                .id(&entry.id)
                .deliveries(times);
            if let Some(origin) = body.origin {
                incoming = incoming.origin(origin);
            }
            let outcome = if times > config.max_deliveries {
                let reason = format!(
                    "handed out {times} times, more than the cap of {} (each consumer that \
                     got it stopped before acknowledging it)",
                    config.max_deliveries
                );
                inbox.poisoned(incoming, &reason)
            } else {
                inbox.deliver(incoming).await
            };
            if !outcome.is_done() {
                return (done, true);
            }
        }
        done.push(entry.id.as_str());
    }
    (done, false)
}

/// How many times the stream handed out `entries` (read again: pending or taken over).
async fn counts_of(
    conn: &mut MultiplexedConnection,
    config: &Config,
    group: &str,
    entries: &[StreamEntry],
) -> Result<HashMap<String, u64>, RedisError> {
    let ids: Vec<&str> = entries
        .iter()
        .filter(|e| e.body.is_some())
        .map(|e| e.id.as_str())
        .collect();
    wire::delivery_counts(conn, &config.stream, group, &ids).await
}

async fn ack(
    conn: &mut MultiplexedConnection,
    config: &Config,
    group: &str,
    ids: &[&str],
) -> Result<(), RedisError> {
    if ids.is_empty() {
        return Ok(());
    }
    redis::cmd("XACK")
        .arg(&config.stream)
        .arg(group)
        .arg(ids)
        .query_async::<Value>(conn)
        .await
        .map(drop)
}

fn closed(state: &State, inbox: &Inbox) -> bool {
    state.stopping() || inbox.is_closed()
}

/// Reads one consumer group as consumer `node`: first the entries this consumer read
/// before and did not acknowledge, then new ones.
#[derive(Clone)]
pub(super) struct Reader {
    pub(super) client: Client,
    pub(super) config: Arc<Config>,
    pub(super) state: Arc<State>,
    pub(super) inbox: Inbox,
    pub(super) group: String,
    pub(super) audience: Audience,
}

impl Reader {
    pub(super) async fn run(self) {
        let mut backoff = Backoff::default();
        while !closed(&self.state, &self.inbox) {
            let connected = backoff
                .connect(
                    &self.client,
                    self.config.block,
                    &self.state.reconnects,
                    || closed(&self.state, &self.inbox),
                )
                .await;
            let Some((mut conn, driver)) = connected else {
                return;
            };
            match wire::drive(driver, self.session(&mut conn)).await {
                Ok(()) => return,
                Err(_) => backoff.wait().await,
            }
        }
    }

    /// Reads until the bus is gone (`Ok`) or the connection fails.
    async fn session(&self, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
        // Again on every connection: a server that restarted empty lost the group.
        self.recreate_group(conn).await?;
        // Where the re-reading of this consumer's pending entries stands; `None` once
        // they are done and new entries are read.
        let mut pending = Some(String::from("0"));
        // Entries delivered and not acknowledged yet: the acknowledgement goes with the
        // next read, in one round trip.
        let mut delivered: Vec<String> = Vec::new();
        loop {
            if closed(&self.state, &self.inbox) {
                let ids: Vec<&str> = delivered.iter().map(String::as_str).collect();
                return ack(conn, &self.config, &self.group, &ids).await;
            }
            if !self.inbox.wants(self.audience) {
                // No subscription here wants these records (no `shared` one): leave
                // them to the processes that have one, and look again shortly.
                let ids: Vec<&str> = delivered.iter().map(String::as_str).collect();
                ack(conn, &self.config, &self.group, &ids).await?;
                delivered.clear();
                tokio::time::sleep(self.config.block.min(IDLE_CHECK)).await;
                continue;
            }
            let reply = match self.read(conn, &delivered, pending.as_deref()).await {
                Ok(reply) => reply,
                Err(e) if e.code() == Some("NOGROUP") => {
                    if closed(&self.state, &self.inbox) {
                        return Ok(());
                    }
                    // What was delivered and not acknowledged comes back as pending
                    // (if the group survived) and is recognised as a duplicate.
                    delivered.clear();
                    self.recreate_group(conn).await?;
                    pending = Some(String::from("0"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            delivered.clear();
            let entries = wire::read_reply(reply);
            // Entries read again were handed out before: their count decides.
            let deliveries = match pending {
                Some(_) => counts_of(conn, &self.config, &self.group, &entries).await?,
                None => HashMap::new(),
            };
            if let Some(after) = &mut pending {
                match entries.last() {
                    Some(last) => after.clone_from(&last.id),
                    None => pending = None,
                }
            }
            let (done, gone) = deliver_all(
                &self.inbox,
                &self.config,
                &entries,
                self.audience,
                &deliveries,
            )
            .await;
            if gone {
                return ack(conn, &self.config, &self.group, &done).await;
            }
            delivered.extend(done.into_iter().map(str::to_owned));
        }
    }

    /// Creates the group again, at the start of the stream, if the server lost it;
    /// counts that in `stream_resets`.
    async fn recreate_group(&self, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
        if wire::recreate_group(conn, &self.config.stream, &self.group).await? {
            self.state.stream_resets.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Entries per read: the batch size, but at most [`SHARED_BATCH`] from the shared
    /// group, so that a backlog of shared work is spread across the processes instead
    /// of going whole to the first one that reads.
    fn count(&self) -> usize {
        match self.audience {
            Audience::Everyone => self.config.batch,
            Audience::Shared => self.config.batch.min(SHARED_BATCH),
        }
    }

    /// One round trip: acknowledges `delivered`, then reads (`XREADGROUP`) the pending
    /// entries after `pending`, or new entries, waiting for them up to the block time.
    async fn read(
        &self,
        conn: &mut MultiplexedConnection,
        delivered: &[String],
        pending: Option<&str>,
    ) -> Result<Value, RedisError> {
        let mut pipe = redis::pipe();
        if !delivered.is_empty() {
            pipe.cmd("XACK")
                .arg(&self.config.stream)
                .arg(&self.group)
                .arg(delivered)
                .ignore();
        }
        let read = pipe
            .cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.group)
            .arg(&self.config.node)
            .arg("COUNT")
            .arg(self.count());
        if pending.is_none() {
            read.arg("BLOCK").arg(millis(self.config.block));
        }
        read.arg("STREAMS")
            .arg(&self.config.stream)
            .arg(pending.unwrap_or(">"));
        let (reply,): (Value,) = pipe.query_async(conn).await?;
        Ok(reply)
    }
}

/// Takes over, every `claim_idle / 2`, the entries that stayed unacknowledged with any
/// consumer of this process's groups for `claim_idle`, and delivers them here.
#[derive(Clone)]
pub(super) struct Reclaimer {
    pub(super) client: Client,
    pub(super) config: Arc<Config>,
    pub(super) state: Arc<State>,
    pub(super) inbox: Inbox,
}

impl Reclaimer {
    pub(super) async fn run(self) {
        let period = (self.config.claim_idle / 2).max(MIN_SWEEP_PERIOD);
        let mut backoff = Backoff::default();
        loop {
            if self.sleep(period).await {
                return;
            }
            let connected = backoff
                .connect(&self.client, Duration::ZERO, &self.state.reconnects, || {
                    closed(&self.state, &self.inbox)
                })
                .await;
            let Some((mut conn, driver)) = connected else {
                return;
            };
            if wire::drive(driver, self.sweeps(&mut conn, period)).await {
                return;
            }
            backoff.wait().await;
        }
    }

    /// Sweeps every `period` until the bus is gone (true) or the connection fails.
    async fn sweeps(&self, conn: &mut MultiplexedConnection, period: Duration) -> bool {
        loop {
            for (group, audience) in self.config.groups() {
                if !self.inbox.wants(audience) {
                    continue;
                }
                match self.sweep(conn, group, audience).await {
                    Ok(true) => return true,
                    Ok(false) => {}
                    // The reader creates missing groups again.
                    Err(e) if e.code() == Some("NOGROUP") => {}
                    Err(_) => return false,
                }
            }
            if self.sleep(period).await {
                return true;
            }
        }
    }

    /// Sleeps `period`; true when the bus is gone.
    async fn sleep(&self, period: Duration) -> bool {
        let mut left = period;
        while !left.is_zero() {
            if closed(&self.state, &self.inbox) {
                return true;
            }
            let step = left.min(CLOSED_CHECK);
            tokio::time::sleep(step).await;
            left -= step;
        }
        closed(&self.state, &self.inbox)
    }

    /// Claims and delivers the idle entries of one group; true when the bus is gone.
    async fn sweep(
        &self,
        conn: &mut MultiplexedConnection,
        group: &str,
        audience: Audience,
    ) -> Result<bool, RedisError> {
        let mut cursor = String::from("0-0");
        for _ in 0..MAX_PAGES {
            let reply: Value = redis::cmd("XAUTOCLAIM")
                .arg(&self.config.stream)
                .arg(group)
                .arg(&self.config.node)
                .arg(millis(self.config.claim_idle))
                .arg(&cursor)
                .arg("COUNT")
                .arg(self.config.batch)
                .query_async(conn)
                .await?;
            let Some((next, entries)) = wire::autoclaim_reply(reply) else {
                return Ok(false);
            };
            let claimed = entries.iter().filter(|e| e.body.is_some()).count();
            self.state
                .reclaimed
                .fetch_add(claimed as u64, Ordering::Relaxed);
            let deliveries = counts_of(conn, &self.config, group, &entries).await?;
            let (done, gone) =
                deliver_all(&self.inbox, &self.config, &entries, audience, &deliveries).await;
            ack(conn, &self.config, group, &done).await?;
            if gone {
                return Ok(true);
            }
            if next == "0-0" || next == "0" {
                break;
            }
            cursor = next;
        }
        Ok(false)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
