//! The writer task: sends the published records, a pipeline of `XADD`s per batch.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{Client, Value};

use super::wire::{self, Backoff, Trim};
use super::{Config, State};
use crate::envelope::Record;
use crate::transport::Inbox;

/// Times a batch refused by the server is tried before its records count as lost.
const MAX_REFUSALS: u32 = 5;
/// Wait before sending a refused batch again; doubles with each refusal.
const REFUSAL_PAUSE: Duration = Duration::from_millis(50);
/// How often an idle writer looks whether its bus is gone (it is also woken for that).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// One batch taken from the queue, ready to send (and to send again after a
/// reconnection).
struct Batch {
    pipe: redis::Pipeline,
    records: usize,
    refusals: u32,
}

#[derive(Clone)]
pub(super) struct Writer {
    pub(super) client: Client,
    pub(super) config: Arc<Config>,
    pub(super) state: Arc<State>,
    pub(super) inbox: Inbox,
    pub(super) origin: String,
}

impl Writer {
    pub(super) async fn run(self) {
        let mut backoff = Backoff::default();
        let mut pending: Option<Batch> = None;
        loop {
            let connected = backoff
                .connect(&self.client, Duration::ZERO, &self.state.reconnects, || {
                    self.done()
                })
                .await;
            let Some((mut conn, driver)) = connected else {
                // The bus is gone and Redis cannot be reached: nobody is left to wait.
                self.state.abandon();
                return;
            };
            if wire::drive(driver, self.send(&mut conn, &mut pending)).await {
                return;
            }
            backoff.wait().await;
        }
    }

    /// Sends batches until the bus is gone and everything is sent (true), or the
    /// connection fails (false; the batch being sent is left in `pending`).
    async fn send(&self, conn: &mut MultiplexedConnection, pending: &mut Option<Batch>) -> bool {
        loop {
            let mut batch = match pending.take() {
                Some(batch) => batch,
                None => match self.next_batch().await {
                    Some(batch) => batch,
                    None => {
                        self.finish(conn).await;
                        return true;
                    }
                },
            };
            match batch.pipe.query_async::<Value>(conn).await {
                Ok(_) => self.state.settle(batch.records, &self.state.sent),
                Err(e) if wire::is_refusal(&e) => {
                    batch.refusals += 1;
                    if batch.refusals >= MAX_REFUSALS {
                        self.state.settle(batch.records, &self.state.lost);
                    } else {
                        let pause = REFUSAL_PAUSE.saturating_mul(1 << batch.refusals);
                        *pending = Some(batch);
                        tokio::time::sleep(pause).await;
                    }
                }
                Err(_) => {
                    *pending = Some(batch);
                    return false;
                }
            }
        }
    }

    /// Whether the bus is gone (its transport dropped).
    fn done(&self) -> bool {
        self.state.stopping() || self.inbox.is_closed()
    }

    /// The next records to send, serialized; `None` once the queue is empty and the
    /// bus is gone.
    async fn next_batch(&self) -> Option<Batch> {
        loop {
            let woken = self.state.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let records: Vec<Record> = {
                let mut q = self.state.queue();
                let n = q.records.len().min(self.config.batch);
                q.in_flight += n;
                q.records.drain(..n).collect()
            };
            if !records.is_empty() {
                return Some(self.serialize(&records));
            }
            if self.done() {
                return None;
            }
            let _ = tokio::time::timeout(IDLE_CHECK, woken).await;
        }
    }

    fn serialize(&self, records: &[Record]) -> Batch {
        let trim = Trim::now(self.config.retention);
        let mut pipe = redis::pipe();
        for record in records {
            let json = record.to_json();
            wire::add_entry(
                &mut pipe,
                &self.config.stream,
                Some(&trim),
                &self.origin,
                &json,
            );
        }
        Batch {
            pipe,
            records: records.len(),
            refusals: 0,
        }
    }

    /// Last steps once the bus is gone and everything is sent: a group named after a
    /// generated node will never be resumed, so it is removed.
    async fn finish(&self, conn: &mut MultiplexedConnection) {
        if self.config.generated {
            let _ = redis::cmd("XGROUP")
                .arg("DESTROY")
                .arg(&self.config.stream)
                .arg(&self.config.own_group)
                .query_async::<Value>(conn)
                .await;
        }
    }
}
