//! How a rusqlite error becomes a [`StoreError`]: the one place that decides what is
//! retryable, what is corruption and what is a plain backend failure.

use rusqlite::ErrorCode;

use crate::error::StoreError;

/// Maps a rusqlite error: lock contention and I/O trouble are retryable, bad data is
/// corruption, anything else is a backend failure.
pub(crate) fn sql_error(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| {
        let retryable = match &e {
            rusqlite::Error::SqliteFailure(err, _) => matches!(
                err.code,
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::DiskFull
                    | ErrorCode::CannotOpen
                    | ErrorCode::OutOfMemory
            ),
            _ => false,
        };
        let corrupt = match &e {
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidColumnType(..) => true,
            rusqlite::Error::SqliteFailure(err, _) => {
                matches!(
                    err.code,
                    ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase
                )
            }
            _ => false,
        };
        if retryable {
            StoreError::Unavailable {
                op,
                source: Box::new(e),
            }
        } else if corrupt {
            StoreError::corrupt(op, e.to_string())
        } else {
            StoreError::Backend {
                op,
                source: Box::new(e),
            }
        }
    }
}
