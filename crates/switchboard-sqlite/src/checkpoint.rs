//! When the writer copies the WAL back into the database file.
//!
//! SQLite's own policy (`wal_autocheckpoint`, 1,000 frames) checkpoints inside the `COMMIT`
//! of whichever connection sees the WAL past the threshold, and it counts frames since the WAL
//! last *restarted*, not frames not yet copied. The WAL restarts only when a writer begins
//! while every frame is copied and no reader still reads from the WAL. Several processes read
//! the embedded file thousands of times a second, so that moment is rare: once past 1,000
//! frames, *every* commit checkpointed — an `fsync` of the WAL and a copy of the few frames
//! new since the last one — before its callers got their answer. Strace of one bench worker
//! at 60 calls in flight: 260 WAL `fsync`s in 3 s, more pages copied back (12,701) than it
//! wrote to the WAL (8,225), since a page changed by every commit (an index's last leaf, the
//! sequence row) was copied again each time.
//!
//! The writer's connection turns that off and checkpoints itself, after answering the batch:
//! when the WAL holds at least [`WriterOptions::checkpoint_frames`] frames and at least
//! [`WriterOptions::checkpoint_interval`] passed since its last one. A hot page is then copied
//! once per interval, and `fsync`s happen a few times a second. `PASSIVE`: it never waits
//! for readers or other writers. Should the WAL still grow to 16 times the threshold (readers
//! kept it from restarting), the next checkpoint is `RESTART`: it waits, within a short
//! budget, for the readers of old frames, so the next write starts the WAL from the top.
//!
//! Durability is unchanged: a commit is as durable as `synchronous` makes it whether or not
//! its frames were copied back yet (readers see them in the WAL either way).

use std::cell::Cell;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::WriterOptions;

thread_local! {
    /// Frames in the WAL after this thread's last commit that wrote any, until taken.
    static WAL_FRAMES: Cell<Option<u32>> = const { Cell::new(None) };
}

/// How long a `RESTART` checkpoint may wait for readers of old frames.
const RESTART_BUDGET: Duration = Duration::from_millis(50);

/// The WAL size, as a multiple of the threshold, at which a checkpoint restarts the WAL.
const RESTART_FACTOR: u32 = 16;

fn on_commit(_: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(Some(u32::try_from(frames).unwrap_or(0))));
    Ok(())
}

/// Frames in the WAL after this thread's last commit, if it wrote any since the last call
/// (`None`: no commit that wrote, or its connection's WAL hook is not ours).
pub(crate) fn take_wal_frames() -> Option<u32> {
    WAL_FRAMES.with(Cell::take)
}

/// The writer thread's checkpoint schedule.
pub(crate) struct Checkpointer {
    frames: u32,
    interval: Duration,
    /// The writer's busy budget, restored after a `RESTART`.
    budget: Duration,
    last: Option<Instant>,
}

impl Checkpointer {
    /// Takes over checkpointing from SQLite on `conn` (the writer's connection; must run on
    /// the writer thread, which commits on it).
    pub(crate) fn install(conn: &Connection, options: &WriterOptions) -> rusqlite::Result<Self> {
        // First: setting the pragma replaces any WAL hook, ours included.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.wal_hook(Some(on_commit));
        WAL_FRAMES.with(|f| f.set(None));
        Ok(Self {
            frames: options.checkpoint_frames.max(1),
            interval: options.checkpoint_interval,
            budget: options.busy_budget,
            last: None,
        })
    }

    /// Checkpoints if due, after a commit on `conn` that left `frames` in the WAL; whether one
    /// ran. Errors are the checkpoint's own: a failed checkpoint loses nothing (the frames stay
    /// in the WAL for the next one).
    pub(crate) fn after_commit(
        &mut self,
        conn: &Connection,
        frames: u32,
    ) -> rusqlite::Result<bool> {
        if frames < self.frames {
            return Ok(false);
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.interval)
        {
            return Ok(false);
        }
        self.last = Some(now);
        if frames >= self.frames.saturating_mul(RESTART_FACTOR) {
            switchboard_core::busy::set_budget(RESTART_BUDGET.min(self.budget));
            let out = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
            switchboard_core::busy::set_budget(self.budget);
            out?;
            Ok(true)
        } else {
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            Ok(true)
        }
    }
}
