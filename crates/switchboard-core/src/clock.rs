//! Where "now" comes from.
//!
//! Every time-dependent rule (queue lock expiry, scheduled enqueue, time-to-live, reservation
//! expiry, wrap-up, TTLs) is evaluated against a [`Clock`] the component is built with, never
//! against the OS clock directly, so tests move time forward instead of sleeping. Processes and
//! replicas that compare each other's instants (several processes sharing one SQLite file,
//! replicas sharing Redis) must all use [`SystemClock`]; logic that runs on a server (Redis
//! scripts) receives the instant as an argument, so every backend agrees on "expired means
//! `expires_at <= now`".
//!
//! Instants are kept to millisecond precision (see [`Clock::now_ms`]): that is what SQLite
//! columns and Redis scores hold, so a value read back equals the value written.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;

    /// The current instant as Unix milliseconds, the precision queue and store work in.
    fn now_ms(&self) -> i64 {
        to_unix_ms(self.now())
    }
}

/// The operating system's clock. Use this in production: replicas on different hosts compare
/// expiry instants, so their clocks must be NTP-synchronised (Azure hosts are).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to. Cloning shares the same instant, so a test keeps one
/// handle and gives the other to the code under test.
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

    /// A clock standing still at a fixed, arbitrary instant (2026-03-12T09:00:00Z), for
    /// deterministic tests.
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

/// Wall-clock time that advances with Tokio's clock: anchored to the OS clock when created,
/// then moved by `tokio::time::Instant`. Under `tokio::time::pause()` it stands still and
/// `tokio::time::advance` moves it, so code that sleeps with Tokio and reads expiry from the
/// store stays consistent in paused-time tests. In a normal runtime it tracks the OS clock.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    wall_anchor: OffsetDateTime,
    tokio_anchor: tokio::time::Instant,
}

impl TokioClock {
    /// Anchors now. Must be called inside a Tokio runtime if time is paused.
    pub fn new() -> Self {
        Self {
            wall_anchor: OffsetDateTime::now_utc(),
            tokio_anchor: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> OffsetDateTime {
        self.wall_anchor + self.tokio_anchor.elapsed()
    }
}

/// Unix milliseconds of `t`, rounded down. Saturates outside the `i64` range (≈ ±292 million
/// years), which no clock reaches.
pub fn to_unix_ms(t: OffsetDateTime) -> i64 {
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

/// The instant `ms` Unix milliseconds, or `None` outside the range `time` represents.
pub fn from_unix_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
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
    fn unix_ms_round_trips_and_floors() {
        let t = datetime!(2026-03-12 09:00:00.999999 UTC);
        assert_eq!(to_unix_ms(t) % 1000, 999);
        assert_eq!(
            from_unix_ms(to_unix_ms(t)),
            Some(datetime!(2026-03-12 09:00:00.999 UTC))
        );
        // Before 1970 rounds towards negative infinity, not towards zero.
        assert_eq!(to_unix_ms(datetime!(1969-12-31 23:59:59.9995 UTC)), -1);
        assert_eq!(from_unix_ms(i64::MAX), None);
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let clock = TokioClock::new();
        let start = clock.now();
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now() - start, time::Duration::seconds(90));
    }
}
