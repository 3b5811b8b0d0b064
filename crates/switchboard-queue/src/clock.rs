//! Where the embedded queue reads "now" from.
//!
//! Every time rule of the SQLite queue (lock expiry, scheduled enqueue, time-to-live, the
//! duplicate-detection window, session locks) is evaluated against a [`Clock`] given when the
//! namespace is opened, never against the OS clock directly, so unit tests move time instead of
//! sleeping. Several processes sharing one file must all use [`SystemClock`] (the default):
//! they compare each other's lock instants.
//!
//! Instants are kept to millisecond precision (what the SQLite columns hold), so a value read
//! back equals the value written.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;

    /// The current instant as Unix milliseconds, the precision the queue works in.
    fn now_ms(&self) -> i64 {
        to_unix_ms(self.now())
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to. Clones share the same instant: a test keeps one
/// handle and gives the other to the queue.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<OffsetDateTime>>,
}

impl ManualClock {
    /// A clock standing still at `start` (truncated to milliseconds).
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(from_unix_ms(to_unix_ms(start)).unwrap_or(start))),
        }
    }

    /// A clock standing still at 2026-03-12T09:00:00Z, for deterministic tests.
    pub fn at_fixed_instant() -> Self {
        Self::new(time::macros::datetime!(2026-03-12 09:00:00 UTC))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }

    /// Sets the clock to `to` (may move backwards, to test clock skew).
    pub fn set(&self, to: OffsetDateTime) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Unix milliseconds of `t`, rounded down. Saturates outside the `i64` range.
pub fn to_unix_ms(t: OffsetDateTime) -> i64 {
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

/// The instant `ms` Unix milliseconds, or `None` outside the range `time` represents.
pub fn from_unix_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// `d` in whole milliseconds, saturating at `i64::MAX` (durations that long mean "never").
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let clock = ManualClock::new(datetime!(2026-01-01 00:00:00.123456 UTC));
        let other = clock.clone();
        assert_eq!(clock.now(), datetime!(2026-01-01 00:00:00.123 UTC));
        clock.advance(Duration::from_millis(1500));
        assert_eq!(other.now(), datetime!(2026-01-01 00:00:01.623 UTC));
        other.set(datetime!(2025-12-31 23:59:59 UTC));
        assert_eq!(
            clock.now_ms(),
            to_unix_ms(datetime!(2025-12-31 23:59:59 UTC))
        );
    }

    #[test]
    fn unix_ms_round_trips_floors_and_saturates() {
        let t = datetime!(2026-03-12 09:00:00.999999 UTC);
        assert_eq!(to_unix_ms(t) % 1000, 999);
        assert_eq!(
            from_unix_ms(to_unix_ms(t)),
            Some(datetime!(2026-03-12 09:00:00.999 UTC))
        );
        assert_eq!(to_unix_ms(datetime!(1969-12-31 23:59:59.9995 UTC)), -1);
        assert_eq!(from_unix_ms(i64::MAX), None);
        assert_eq!(duration_ms(Duration::MAX), i64::MAX);
        assert_eq!(duration_ms(Duration::from_micros(1999)), 1);
    }
}
