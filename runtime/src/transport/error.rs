//! [`TransportError`]: why a transport could not start or send.

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
    /// The transport is already started by another bus.
    #[error("this transport is already started by another bus")]
    AlreadyStarted,
}
