//! Talking to Redis: connections, backoff, errors and the replies of stream commands.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;
use redis::io::tcp::TcpSettings;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ErrorKind, IntoConnectionInfo, RedisError,
    ServerErrorKind, Value,
};
use tokio::io::{AsyncRead, AsyncWrite};
use uuid::Uuid;

use super::config::{Config, Retention};
use crate::transport::TransportError;

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a command may wait for its reply (beyond a read's own `BLOCK` time).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// First wait after a failure; doubles up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// A client for `url`, its TCP connections without Nagle's algorithm (small
/// commands go out at once rather than waiting for the previous one's
/// acknowledgement). A `rediss://` URL (feature `redis-tls`) trusts `tls_roots` (PEM)
/// when given, else the system's certificate authorities.
pub(crate) fn client(url: &str, tls_roots: Option<Vec<u8>>) -> Result<Client, RedisError> {
    let info = url
        .into_connection_info()?
        .set_tcp_settings(TcpSettings::default().set_nodelay(true));
    #[cfg(feature = "redis-tls")]
    {
        // rustls needs a process-wide provider when more than one is compiled in; an
        // application that installed its own keeps it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if let Some(root) = tls_roots {
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root),
            };
            return Client::build_with_tls(info, certificates);
        }
    }
    #[cfg(not(feature = "redis-tls"))]
    drop(tls_roots);
    Client::open(info)
}

/// `url` with its password masked (`redis://user:secret@host` ->
/// `redis://user:***@host`), for messages and debug output.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // Everything up to the last `@` is taken for credentials, even a `/` or `?` in a
    // password that was not percent-encoded: better a mangled address than a shown
    // password.
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _password)) if !user.contains('/') => {
            format!("{scheme}://{user}:***@{host}")
        }
        // `redis://secret@host`: a lone credential is the password.
        _ => format!("{scheme}://***@{host}"),
    }
}

/// Whether `e` says the server refused the credentials (a wrong password, a user that
/// is off or lacks a permission).
pub(crate) fn is_auth_failure(e: &RedisError) -> bool {
    e.kind() == ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
}

/// What carries a connection's traffic: the future behind a
/// [`MultiplexedConnection`], polled by the task that uses the connection (see
/// [`drive`]) rather than by a task of its own, so that a reply reaches its task
/// without a hop through another one.
pub(crate) type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A socket to Redis.
trait Socket: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Socket for T {}

/// Opens a connection whose replies may take up to `wait` plus a margin: reads pass
/// their `BLOCK` time, so that waiting for entries is not taken for a dead server,
/// while a server that stopped answering altogether is still noticed.
pub(crate) async fn connect(
    client: &Client,
    wait: Duration,
) -> Result<(MultiplexedConnection, Driver), RedisError> {
    let info = client.get_connection_info();
    let config =
        AsyncConnectionConfig::new().set_response_timeout(Some(wait.saturating_add(REPLY_TIMEOUT)));
    let open = async {
        #[cfg(feature = "redis-tls")]
        if let ConnectionAddr::TcpTls { .. } = info.addr() {
            // The redis crate opens TLS connections and drives them on a task of its
            // own: nothing is left for `drive` to poll.
            let conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            return Ok((conn, Box::pin(std::future::pending()) as Driver));
        }
        let socket: Box<dyn Socket> = match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                tcp.set_nodelay(true)?;
                Box::new(tcp)
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            other => {
                return Err(RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "address not supported by this build",
                    other.to_string(),
                )))
            }
        };
        let (conn, driver) =
            MultiplexedConnection::new_with_config(info.redis_settings(), socket, config).await?;
        Ok((conn, Box::pin(driver) as Driver))
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, open).await {
        Ok(opened) => opened,
        Err(_) => Err(io::Error::from(io::ErrorKind::TimedOut).into()),
    }
}

/// Runs `work`, which uses the connection `driver` carries, polling `driver`
/// meanwhile. Once the connection is closed, `work` still runs to its end (its next
/// command fails): it is never cut in the middle of a delivery.
pub(crate) async fn drive<T>(mut driver: Driver, work: impl Future<Output = T>) -> T {
    let mut work = std::pin::pin!(work);
    let mut closed = false;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(done) = work.as_mut().poll(cx) {
            return Poll::Ready(done);
        }
        // A finished driver dropped the replies it owed, which wakes `work` again.
        if !closed && driver.as_mut().poll(cx).is_ready() {
            closed = true;
        }
        Poll::Pending
    })
    .await
}

/// Creates this process's groups at the end of the stream (and the stream), from the
/// thread that starts the transport: once it returns, every entry added later reaches
/// this process.
pub(super) fn create_groups_blocking(
    client: &Client,
    config: &Config,
) -> Result<(), TransportError> {
    let failed = |e: RedisError| {
        let what = format!("redis at {}: {e}", client.get_connection_info().addr());
        if is_auth_failure(&e) {
            TransportError::Auth(what)
        } else {
            TransportError::Connection(what)
        }
    };
    let mut conn = client
        .get_connection_with_timeout(CONNECT_TIMEOUT)
        .map_err(failed)?;
    conn.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(failed)?;
    conn.set_write_timeout(Some(REPLY_TIMEOUT))
        .map_err(failed)?;
    for (group, _) in config.groups() {
        match create_group_cmd(&config.stream, group, "$").query::<()>(&mut conn) {
            Ok(()) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(failed(e)),
        }
    }
    Ok(())
}

/// Creates `group` again if it is missing, at the *start* of the stream: a group that
/// goes missing while its process runs was lost with the server's data (a restart
/// without persistence), and every entry the new stream holds was published after
/// that, so all of it is for this group (what it already had is suppressed as
/// duplicates by the inbox). True when the group was missing.
pub(super) async fn recreate_group(
    conn: &mut MultiplexedConnection,
    stream: &str,
    group: &str,
) -> Result<bool, RedisError> {
    match create_group_cmd(stream, group, "0")
        .query_async::<()>(conn)
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(false),
        Err(e) => Err(e),
    }
}

/// `XGROUP CREATE stream group at MKSTREAM`.
fn create_group_cmd(stream: &str, group: &str, at: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("XGROUP");
    cmd.arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg(at)
        .arg("MKSTREAM");
    cmd
}

/// The entry field holding the publishing bus's [`Inbox::origin`](crate::transport::Inbox::origin).
const ORIGIN: &str = "origin";
/// The entry field holding the record's JSON.
const JSON: &str = "json";

/// Appends one `XADD` of a record to `pipe`, trimming the stream by `trim` if given.
pub(crate) fn add_entry(
    pipe: &mut redis::Pipeline,
    stream: &str,
    trim: Option<&Trim>,
    origin: &str,
    json: &str,
) {
    let cmd = pipe.cmd("XADD").arg(stream);
    match trim {
        Some(Trim::MaxLen(n)) => cmd.arg("MAXLEN").arg("~").arg(*n),
        Some(Trim::MinId(id)) => cmd.arg("MINID").arg("~").arg(id.as_str()),
        None => cmd,
    };
    cmd.arg("*").arg(ORIGIN).arg(origin).arg(JSON).arg(json);
}

/// The trimming argument of one batch of `XADD`s.
pub(crate) enum Trim {
    MaxLen(u64),
    MinId(String),
}

impl Trim {
    pub(super) fn now(retention: Retention) -> Trim {
        match retention {
            Retention::MaxLen(n) => Trim::MaxLen(n),
            Retention::MaxAge(age) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let oldest = now.saturating_sub(age).as_millis();
                Trim::MinId(format!("{oldest}-0"))
            }
        }
    }
}

/// Whether a working server refused the command (it would refuse it again), rather
/// than the connection failing or the server being temporarily unavailable (loading
/// its data after a restart, a failover): those are worth retrying until they pass.
pub(super) fn is_refusal(e: &RedisError) -> bool {
    match e.kind() {
        ErrorKind::Server(kind) => !matches!(
            kind,
            ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::ReadOnly
        ),
        ErrorKind::Extension => true,
        _ => false,
    }
}

/// Waits growing intervals between attempts: 50 ms doubling to 2 s, each within
/// ±20% so that processes that lost the same server do not retry in step.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Records a failure and waits.
    pub(super) async fn wait(&mut self) {
        let exp = self.failures.min(6);
        self.failures = self.failures.saturating_add(1);
        let base = BACKOFF_MIN.saturating_mul(1 << exp).min(BACKOFF_MAX);
        // A fresh random UUID is the cheapest source of randomness at hand.
        let r = (Uuid::new_v4().as_u128() % 401) as f64 / 1000.0; // 0.0 ..= 0.4
        tokio::time::sleep(base.mul_f64(0.8 + r)).await;
    }

    /// Records a success; true when it follows failures (a reconnection).
    pub(super) fn succeeded(&mut self) -> bool {
        std::mem::take(&mut self.failures) > 0
    }

    /// Connects (see [`connect`]), waiting between failed attempts; a connection after
    /// failures is counted in `reconnects`. `None` when an attempt failed and `stop()`
    /// holds.
    pub(super) async fn connect(
        &mut self,
        client: &Client,
        wait: Duration,
        reconnects: &AtomicU64,
        stop: impl Fn() -> bool,
    ) -> Option<(MultiplexedConnection, Driver)> {
        loop {
            match connect(client, wait).await {
                Ok(connected) => {
                    if self.succeeded() {
                        reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    return Some(connected);
                }
                Err(_) if stop() => return None,
                Err(_) => self.wait().await,
            }
        }
    }
}

/// How many times the stream handed each of `ids` to `group` (`XPENDING`, one per id,
/// in one round trip); ids no longer pending are left out.
pub(super) async fn delivery_counts(
    conn: &mut MultiplexedConnection,
    stream: &str,
    group: &str,
    ids: &[&str],
) -> Result<HashMap<String, u64>, RedisError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .arg(*id)
            .arg(*id)
            .arg(1);
    }
    let replies: Vec<Value> = pipe.query_async(conn).await?;
    Ok(replies.into_iter().flat_map(pending_reply).collect())
}

/// The entries of an extended `XPENDING` reply: `[id, consumer, idle, deliveries]` each.
pub(super) fn pending_reply(reply: Value) -> Vec<(String, u64)> {
    let Value::Array(items) = reply else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(parts) = item else {
                return None;
            };
            let mut parts = parts.into_iter();
            let id = parts.next().and_then(text)?;
            let deliveries = match parts.nth(2)? {
                Value::Int(n) => u64::try_from(n).ok()?,
                other => text(other)?.parse().ok()?,
            };
            Some((id, deliveries))
        })
        .collect()
}

/// One stream entry as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamEntry {
    pub(crate) id: String,
    /// `None` for an entry that was trimmed while pending (nothing left to deliver).
    pub(crate) body: Option<Body>,
}

/// The fields of an entry, as far as they could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Body {
    pub(super) origin: Option<Uuid>,
    /// The `json` field; empty when missing (the inbox rejects it with a reason).
    pub(crate) json: String,
}

/// The entries of an `XREADGROUP` or `XREAD` reply (for one stream); empty for a nil reply (the
/// read timed out). Parts that do not have the expected shape are skipped.
pub(crate) fn read_reply(reply: Value) -> Vec<StreamEntry> {
    let streams = match reply {
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(pair) => pair.into_iter().nth(1),
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs.into_iter().map(|(_, entries)| entries).collect(),
        _ => Vec::new(),
    };
    streams.into_iter().flat_map(entries).collect()
}

/// The reply of `XAUTOCLAIM`: the cursor to continue from and the claimed entries.
/// Entries deleted meanwhile are left out: Redis drops them from the pending list.
pub(super) fn autoclaim_reply(reply: Value) -> Option<(String, Vec<StreamEntry>)> {
    let Value::Array(parts) = reply else {
        return None;
    };
    let mut parts = parts.into_iter();
    let cursor = parts.next().and_then(text)?;
    let claimed = parts.next().map(entries).unwrap_or_default();
    Some((cursor, claimed))
}

fn entries(list: Value) -> Vec<StreamEntry> {
    let Value::Array(items) = list else {
        return Vec::new();
    };
    items.into_iter().filter_map(entry).collect()
}

fn entry(item: Value) -> Option<StreamEntry> {
    let Value::Array(parts) = item else {
        return None;
    };
    let mut parts = parts.into_iter();
    let id = parts.next().and_then(text)?;
    let body = match parts.next() {
        Some(Value::Array(flat)) => {
            let mut pairs = Vec::with_capacity(flat.len() / 2);
            let mut it = flat.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Some(body(pairs))
        }
        Some(Value::Map(pairs)) => Some(body(pairs)),
        _ => None,
    };
    Some(StreamEntry { id, body })
}

fn body(pairs: Vec<(Value, Value)>) -> Body {
    let mut origin = None;
    let mut json = None;
    for (k, v) in pairs {
        match text(k).as_deref() {
            Some(ORIGIN) if origin.is_none() => {
                origin = text(v).and_then(|s| Uuid::parse_str(&s).ok());
            }
            Some(JSON) if json.is_none() => json = text(v),
            _ => {}
        }
    }
    Body {
        origin,
        json: json.unwrap_or_default(),
    }
}

fn text(v: Value) -> Option<String> {
    match v {
        Value::BulkString(bytes) => Some(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
        Value::SimpleString(s) => Some(s),
        Value::VerbatimString { text, .. } => Some(text),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn entry_value(id: &str, fields: &[&str]) -> Value {
        Value::Array(vec![
            bulk(id),
            Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Any reply a server or a man in the middle could send, nested up to 4 deep.
        fn a_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Nil),
                Just(Value::Okay),
                any::<i64>().prop_map(Value::Int),
                proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::BulkString),
                "\\PC{0,12}".prop_map(|s: String| Value::BulkString(s.into_bytes())),
                "\\PC{0,12}".prop_map(Value::SimpleString),
                any::<bool>().prop_map(Value::Boolean),
                any::<f64>().prop_map(Value::Double),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    proptest::collection::vec((inner.clone(), inner.clone()), 0..4)
                        .prop_map(Value::Map),
                    proptest::collection::vec(inner, 0..4).prop_map(Value::Set),
                ]
            })
        }

        /// One entry as a publisher writes it: an id, an origin and the JSON.
        fn an_entry() -> impl Strategy<Value = (String, Option<Uuid>, String)> {
            (
                (any::<u64>(), any::<u64>()).prop_map(|(ms, seq)| format!("{ms}-{seq}")),
                proptest::option::of(any::<u128>().prop_map(Uuid::from_u128)),
                "\\PC{0,40}",
            )
        }

        fn fields(origin: Option<Uuid>, json: &str) -> Vec<(Value, Value)> {
            let mut fields = Vec::new();
            if let Some(o) = origin {
                fields.push((bulk(ORIGIN), bulk(&o.to_string())));
            }
            fields.push((bulk(JSON), bulk(json)));
            fields
        }

        /// A group read's reply holding `entries`: RESP2 (arrays) or RESP3 (maps).
        fn reply_of(entries: &[(String, Option<Uuid>, String)], resp3: bool) -> Value {
            let items = entries
                .iter()
                .map(|(id, origin, json)| {
                    let fields = fields(*origin, json);
                    let body = if resp3 {
                        Value::Map(fields)
                    } else {
                        Value::Array(fields.into_iter().flat_map(|(k, v)| [k, v]).collect())
                    };
                    Value::Array(vec![bulk(id), body])
                })
                .collect();
            if resp3 {
                Value::Map(vec![(bulk("s"), Value::Array(items))])
            } else {
                Value::Array(vec![Value::Array(vec![bulk("s"), Value::Array(items)])])
            }
        }

        fn written(entries: &[(String, Option<Uuid>, String)]) -> Vec<StreamEntry> {
            entries
                .iter()
                .map(|(id, origin, json)| StreamEntry {
                    id: id.clone(),
                    body: Some(Body {
                        origin: *origin,
                        json: json.clone(),
                    }),
                })
                .collect()
        }

        /// `value` with the node at `at` (in depth-first order) replaced by `with`.
        fn replace_node(value: &mut Value, at: &mut usize, with: &Value) {
            if *at == 0 {
                *value = with.clone();
                *at = usize::MAX;
                return;
            }
            *at -= 1;
            match value {
                Value::Array(items) | Value::Set(items) => {
                    for item in items {
                        if *at == usize::MAX {
                            return;
                        }
                        replace_node(item, at, with);
                    }
                }
                Value::Map(pairs) => {
                    for (k, v) in pairs {
                        if *at == usize::MAX {
                            return;
                        }
                        replace_node(k, at, with);
                        if *at == usize::MAX {
                            return;
                        }
                        replace_node(v, at, with);
                    }
                }
                _ => {}
            }
        }

        proptest! {
            #![proptest_config(crate::time_fmt::tests::config())]

            #[test]
            fn any_reply_reads_without_panicking(reply in a_value()) {
                // Whatever the reply, an answer (a panic fails the test).
                drop(read_reply(reply.clone()));
                drop(pending_reply(reply.clone()));
                drop(autoclaim_reply(reply));
            }

            #[test]
            fn entries_read_back_as_written(
                entries in proptest::collection::vec(an_entry(), 0..6),
                resp3 in any::<bool>(),
            ) {
                let got = read_reply(reply_of(&entries, resp3));
                prop_assert_eq!(got, written(&entries));
            }

            #[test]
            fn a_damaged_reply_reads_what_is_left(
                entries in proptest::collection::vec(an_entry(), 1..6),
                resp3 in any::<bool>(),
                at in 0usize..64,
                with in a_value(),
            ) {
                let mut reply = reply_of(&entries, resp3);
                let mut left = at;
                replace_node(&mut reply, &mut left, &with);
                let got = read_reply(reply.clone());
                if left == usize::MAX {
                    // An entry read is one of the reply's arrays: no more than the
                    // written ones and those the damage brought.
                    prop_assert!(got.len() <= entries.len() + count_arrays(&with));
                } else {
                    // `at` was past the reply's last node: nothing was damaged.
                    prop_assert_eq!(got, written(&entries));
                }
                drop(autoclaim_reply(Value::Array(vec![bulk("0-0"), reply])));
            }
        }

        fn count_arrays(v: &Value) -> usize {
            match v {
                Value::Array(items) | Value::Set(items) => {
                    items.len() + items.iter().map(count_arrays).sum::<usize>()
                }
                Value::Map(pairs) => {
                    pairs.len()
                        + pairs
                            .iter()
                            .map(|(k, v)| count_arrays(k) + count_arrays(v))
                            .sum::<usize>()
                }
                _ => 0,
            }
        }
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        for (url, shown) in [
            ("redis://h:1", "redis://h:1"),
            ("redis://user:s3cret@h:1/0", "redis://user:***@h:1/0"),
            ("rediss://:s3cret@h:1", "rediss://:***@h:1"),
            ("redis://s3cret@h:1", "redis://***@h:1"),
            ("redis://u:p@ss:w@rd@h:1", "redis://u:***@h:1"),
            ("redis://u:pa/ss@h:1", "redis://u:***@h:1"),
            ("redis://u:pa?ss@h:1/2", "redis://u:***@h:1/2"),
            ("not a url", "not a url"),
            ("redis://\u{e9}:\u{e9}@h", "redis://\u{e9}:***@h"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn reads_entries_of_a_group_read() {
        let origin = Uuid::new_v4().to_string();
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![
                entry_value("1-0", &["origin", &origin, "json", "{}"]),
                entry_value("2-0", &["json", "x"]),
                entry_value("3-0", &["origin", "not a uuid", "other", "y", "dangling"]),
                Value::Array(vec![bulk("4-0"), Value::Nil]),
                Value::Int(5),
            ]),
        ])]);
        let got = read_reply(reply);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].id, "1-0");
        let b0 = got[0].body.as_ref().unwrap();
        assert_eq!(b0.origin.map(|u| u.to_string()), Some(origin));
        assert_eq!(b0.json, "{}");
        let b1 = got[1].body.as_ref().unwrap();
        assert_eq!((b1.origin, b1.json.as_str()), (None, "x"));
        let b2 = got[2].body.as_ref().unwrap();
        assert_eq!((b2.origin, b2.json.as_str()), (None, ""));
        assert_eq!(got[3].body, None);
        assert!(read_reply(Value::Nil).is_empty());
        assert!(read_reply(Value::Okay).is_empty());
    }

    #[test]
    fn reads_resp3_maps_and_invalid_utf8() {
        let reply = Value::Map(vec![(
            bulk("s"),
            Value::Array(vec![Value::Array(vec![
                bulk("1-0"),
                Value::Map(vec![(
                    bulk("json"),
                    Value::BulkString(vec![b'a', 0xff, b'b']),
                )]),
            ])]),
        )]);
        let got = read_reply(reply);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body.as_ref().unwrap().json, "a\u{fffd}b");
    }

    #[test]
    fn reads_delivery_counts_of_pending_replies() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                bulk("5-0"),
                bulk("node"),
                Value::Int(12),
                Value::Int(7),
            ]),
            Value::Array(vec![bulk("6-0"), bulk("node"), Value::Int(1), bulk("2")]),
            Value::Array(vec![
                bulk("7-0"),
                bulk("node"),
                Value::Int(1),
                Value::Int(-1),
            ]),
            Value::Array(vec![bulk("8-0")]),
            Value::Nil,
        ]);
        assert_eq!(
            pending_reply(reply),
            [("5-0".to_owned(), 7), ("6-0".to_owned(), 2)]
        );
        assert!(pending_reply(Value::Nil).is_empty());
    }

    #[test]
    fn reads_autoclaim_replies() {
        let reply = Value::Array(vec![
            bulk("7-0"),
            Value::Array(vec![entry_value("5-0", &["json", "{}"])]),
            Value::Array(vec![bulk("6-0")]),
        ]);
        let (cursor, got) = autoclaim_reply(reply).unwrap();
        assert_eq!(cursor, "7-0");
        assert_eq!(got.len(), 1);
        assert!(autoclaim_reply(Value::Nil).is_none());
        assert!(autoclaim_reply(Value::Array(vec![])).is_none());
    }

    #[test]
    fn trims_by_length_or_age() {
        assert!(matches!(Trim::now(Retention::MaxLen(10)), Trim::MaxLen(10)));
        let Trim::MinId(id) = Trim::now(Retention::MaxAge(Duration::from_secs(60))) else {
            panic!("an age trims by id");
        };
        let ms: u128 = id.strip_suffix("-0").unwrap().parse().unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(ms <= now - 60_000 && ms + 5_000 > now - 60_000);
    }
}
