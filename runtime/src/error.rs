//! Error types, one per failure domain.

use uuid::Uuid;

/// A string that names no value of the expected kind (`"nope"` as a [`Phase`](crate::Phase)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct ParseValueError {
    what: &'static str,
    value: String,
}

impl ParseValueError {
    pub(crate) fn new(what: &'static str, value: &str) -> Self {
        ParseValueError {
            what,
            value: value.to_owned(),
        }
    }
}

/// Why a JSON record could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The text is not JSON, or not a JSON object with the record fields.
    #[error("malformed record: {0}")]
    Malformed(String),
    /// No registered event type has this name.
    #[error("unknown event name `{0}`")]
    UnknownName(String),
    /// The payload was written by a version this type cannot read.
    #[error("event `{name}` version {found} is not supported (current version {current}{})", if *.migratable { ", migration failed" } else { ", no migration" })]
    UnsupportedVersion {
        /// The event name.
        name: String,
        /// The version in the record.
        found: u32,
        /// The version of the registered type.
        current: u32,
        /// Whether a migration was tried (and failed).
        migratable: bool,
    },
    /// The payload does not have the shape of the registered type.
    #[error("payload of `{name}` does not match its type: {reason}")]
    Payload {
        /// The event name.
        name: String,
        /// What did not match.
        reason: String,
    },
}

/// Two event types registered under one name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event name `{name}` is registered by more than one type: {}", types.join(", "))]
pub struct RegistryError {
    /// The duplicated name.
    pub name: String,
    /// Every Rust type registered under it.
    pub types: Vec<String>,
}

/// Why a bus could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The event registry is inconsistent.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The transport could not start.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// A subscription or dead letter named by a call does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// No subscription has this name.
    #[error("no subscription named `{0}`")]
    UnknownSubscription(String),
    /// No dead letter has this id.
    #[error("no dead letter with id {0}")]
    UnknownDeadLetter(Uuid),
    /// No children scope with this parent id is running or remembered.
    #[error("no children scope with parent id {0}")]
    UnknownScope(Uuid),
}

/// Why a [`Bus::request`](crate::Bus::request) got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No subscription handles this query type.
    #[error("no handler answers query `{query}`")]
    NoResponder {
        /// The query's event name.
        query: &'static str,
    },
    /// Every local handler of the query finished without answering (each returned
    /// `None`, or the query expired or was dropped before they ran).
    #[error("no handler answered query `{query}`")]
    NoAnswer {
        /// The query's event name.
        query: &'static str,
    },
    /// No response arrived in time.
    #[error("query `{query}` got no response within {after:?}")]
    Timeout {
        /// The query's event name.
        query: &'static str,
        /// How long the request waited.
        after: std::time::Duration,
    },
    /// The handler of the query failed (after its retries).
    #[error("handler `{handler}` failed to answer: {error}")]
    HandlerFailed {
        /// The subscription name.
        handler: String,
        /// Its error text.
        error: String,
    },
}

/// Why a transport could not start or send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The address or an option is not valid.
    #[error("invalid transport configuration: {0}")]
    Config(String),
    /// The other end could not be reached or refused a command.
    #[error("transport connection failed: {0}")]
    Connection(String),
    /// The other end refused the credentials (a wrong password, a user that is off).
    /// The message never holds the password.
    #[error("transport authentication failed: {0}")]
    Auth(String),
    /// The transport is already started by another bus.
    #[error("this transport is already started by another bus")]
    AlreadyStarted,
}
