//! How a SQLite connection waits for a write lock another connection holds.
//!
//! SQLite's own busy timeout (`sqlite3_busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25, … ms
//! between attempts: a writer that finds the lock taken waits at least a millisecond, though
//! the transactions it waits for (ours: a few rows) hold the lock for a tenth of that. With
//! several processes committing hundreds of times a second to one file, most contended waits
//! overshoot, and the lock sits idle while waiters sleep. [`handler`] retries after 50 µs and
//! doubles to at most 1 ms, and gives up after the budget [`set_budget`] gave the current
//! thread (the connection's configured busy timeout; every transaction runs on one thread,
//! so the caller sets it there before it starts). Install it with rusqlite's
//! `Connection::busy_handler(Some(switchboard_core::busy::handler))` in place of
//! `busy_timeout`.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The budget of a thread that never called [`set_budget`]: the crates' default busy timeout.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(5);

const FIRST_NAP: Duration = Duration::from_micros(50);
const LONGEST_NAP: Duration = Duration::from_millis(1);

thread_local! {
    static BUDGET: Cell<Duration> = const { Cell::new(DEFAULT_BUDGET) };
    static WAITING_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// How long statements run on this thread from now on may wait for a lock in total.
pub fn set_budget(budget: Duration) {
    BUDGET.with(|b| b.set(budget));
}

/// The busy handler: `attempts` is how many times SQLite already called it for this wait.
/// Returns whether to try again (after a nap) or give up (`SQLITE_BUSY`).
pub fn handler(attempts: i32) -> bool {
    let now = Instant::now();
    let since = WAITING_SINCE.with(|w| {
        if attempts == 0 {
            w.set(Some(now));
        }
        w.get().unwrap_or(now)
    });
    let budget = BUDGET.with(Cell::get);
    match nap(attempts, now.saturating_duration_since(since), budget) {
        Some(d) => {
            std::thread::sleep(d);
            true
        }
        None => false,
    }
}

/// The nap before attempt `attempts + 1`, having waited `waited` of `budget`; `None`: give up.
fn nap(attempts: i32, waited: Duration, budget: Duration) -> Option<Duration> {
    if waited >= budget {
        return None;
    }
    let shift = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    Some(
        FIRST_NAP
            .saturating_mul(1u32 << shift)
            .min(LONGEST_NAP)
            .min(budget - waited),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naps_start_at_50_microseconds_double_to_a_millisecond_and_stop_at_the_budget() {
        let budget = Duration::from_millis(30);
        let naps: Vec<Duration> = (0..7)
            .map(|n| nap(n, Duration::ZERO, budget).unwrap())
            .collect();
        let us = |n| Duration::from_micros(n);
        assert_eq!(
            naps,
            [
                us(50),
                us(100),
                us(200),
                us(400),
                us(800),
                us(1000),
                us(1000)
            ]
        );
        assert_eq!(nap(1000, Duration::ZERO, budget), Some(us(1000)));
        assert_eq!(nap(3, Duration::from_micros(29_900), budget), Some(us(100)));
        assert_eq!(nap(3, budget, budget), None);
    }

    #[test]
    fn the_handler_gives_up_once_the_threads_budget_is_spent() {
        set_budget(Duration::from_millis(5));
        let started = Instant::now();
        let mut attempts = 0;
        while handler(attempts) {
            attempts += 1;
            assert!(attempts < 10_000, "never gave up");
        }
        assert!(started.elapsed() >= Duration::from_millis(5));
        set_budget(DEFAULT_BUDGET);
    }
}
