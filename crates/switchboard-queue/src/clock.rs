//! Where the embedded queue reads "now" from: the workspace [`Clock`] (from
//! `switchboard-core`), given when the namespace is opened.
//!
//! Every time rule of the SQLite queue (lock expiry, scheduled enqueue, time-to-live, the
//! duplicate-detection window, session locks) is evaluated against it, never against the OS
//! clock directly. Several processes sharing one file must all use [`SystemClock`] (the
//! default): they compare each other's lock instants.

use std::time::Duration;

pub use switchboard_core::clock::{from_unix_ms, to_unix_ms, Clock, ManualClock, SystemClock};

/// `d` in whole milliseconds, saturating at `i64::MAX` (durations that long mean "never").
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_ms_saturates_and_floors() {
        assert_eq!(duration_ms(Duration::MAX), i64::MAX);
        assert_eq!(duration_ms(Duration::from_micros(1999)), 1);
    }
}
