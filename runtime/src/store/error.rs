//! [`StoreError`].

use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::error::DecodeError;

/// What went wrong with an event store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file could not be opened or created (missing, a directory, not a database,
    /// no permission), or the writer thread could not start.
    #[error("cannot open store `{}`: {reason}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// What SQLite or the system said.
        reason: String,
    },
    /// The file is a SQLite database but not a herald store this version can read.
    #[error("`{}` is not a herald store: {reason}", path.display())]
    Schema {
        /// The path given.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// A query failed.
    #[error("store query failed: {0}")]
    Sql(String),
    /// A batch of records could not be committed; its records are counted as lost.
    #[error("could not write {records} records to the store: {reason}")]
    Write {
        /// Records in the failed batch.
        records: u64,
        /// What SQLite said (`database or disk is full`, `attempt to write a readonly
        /// database`, ...).
        reason: String,
    },
    /// A stored row does not decode in this program.
    #[error("stored record {id} does not decode: {source}")]
    Decode {
        /// The record id.
        id: Uuid,
        /// Why.
        #[source]
        source: DecodeError,
    },
}

impl StoreError {
    pub(crate) fn open(path: &Path, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Open {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn schema(path: &Path, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Schema {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn sql(e: rusqlite::Error) -> StoreError {
        StoreError::Sql(e.to_string())
    }
}
