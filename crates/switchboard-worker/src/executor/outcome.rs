//! What the executor is configured with and what it reports: options, errors, the result of
//! handling an input, command outcomes and the [`Observer`] that sees them.

use std::fmt;
use std::time::Duration;

use switchboard_events::CorrelationId;
use switchboard_store::StoreError;

use crate::flow::{Command, Disposition, FlowInput, Transition};

/// Tunables of the executor. `Default` suits production; tests shorten nothing here (time
/// comes from the clock and the flow configuration).
#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    /// The ingress's public `…/api/callbacks` URL: answer callbacks and recording state.
    pub callback_url: String,
    /// A call-state document expires this long after its last write (a call that never got
    /// its CallDisconnected does not live forever).
    pub call_state_ttl: Duration,
    /// How long the audit record of a finished call is kept.
    pub audit_ttl: Duration,
    /// Reservation lifetime while ringing, on top of ring timeout + grace.
    pub reservation_margin: Duration,
    /// Reservation lifetime once the agent is on the call (guards against a lost release).
    pub on_call_ttl: Duration,
    /// How long "this media command ran" markers are kept.
    pub marker_ttl: Duration,
    /// Compare-and-set attempts per input before giving up (transient).
    pub max_cas_attempts: u32,
    /// Most feedback steps per input (a guard against a flow bug looping forever).
    pub max_feedback_steps: usize,
    /// How long a handler owns a call's outbox while executing it. Another handler waits
    /// (retries later) rather than running the same commands at the same time; after this
    /// long the owner is presumed dead and the outbox is taken over. Set it to about the
    /// queue's lock duration.
    pub outbox_lease: Duration,
    /// The lease of an outbox an `IncomingCall` decided (the answer): about the incoming
    /// queue's lock, which is short so a crashed worker's ringing call is answered by another
    /// replica in time — a longer lease would make that replica wait it out.
    pub incoming_lease: Duration,
}

impl ExecutorOptions {
    /// Defaults with the callback URL from the worker configuration (`acs.callback_url`).
    pub(crate) fn from_config(
        cfg: &crate::config::Config,
    ) -> Result<Self, crate::config::ConfigError> {
        let url = cfg.acs.callback_url.clone().ok_or_else(|| {
            crate::config::ConfigError::new("acs.callback_url", "the worker needs the callback URL")
        })?;
        Ok(Self {
            audit_ttl: cfg.stats.history_ttl(),
            ..Self::new(url)
        })
    }

    /// Defaults with the callback URL.
    pub fn new(callback_url: impl Into<String>) -> Self {
        Self {
            callback_url: callback_url.into(),
            call_state_ttl: Duration::from_secs(24 * 3600),
            audit_ttl: Duration::from_secs(24 * 3600),
            reservation_margin: Duration::from_secs(30),
            on_call_ttl: Duration::from_secs(8 * 3600),
            marker_ttl: Duration::from_secs(24 * 3600),
            max_cas_attempts: 8,
            max_feedback_steps: 64,
            outbox_lease: Duration::from_secs(30),
            incoming_lease: Duration::from_secs(5),
        }
    }
}

/// Why an input could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Worth another try (store busy, Call Automation throttled or unreachable, queue down).
    /// The runner abandons the message; progress made so far is saved.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Will fail the same way every time. The runner dead-letters the message.
    #[error("{reason}: {description}")]
    Permanent {
        /// Short machine-readable reason, used as the dead-letter reason.
        reason: &'static str,
        /// What exactly was wrong, for the dead-letter description.
        description: String,
    },
}

impl ExecError {
    /// True for [`ExecError::Transient`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// What handling an input did.
#[derive(Clone, Debug)]
pub struct Handled {
    /// Applied, duplicate, stale or ignored: how the runner settles the message.
    pub disposition: Disposition,
    /// What the flow decided, one line for logs and the timeline.
    pub decision: String,
    /// Commands executed (including leftovers of an earlier handler and feedback commands).
    pub commands: usize,
    /// The call's phase afterwards (`ended` once archived).
    pub phase: Option<&'static str>,
}

/// How one command ended, for observers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Done; `detail` says what came of it.
    Done {
        /// What came of it (an id, a count, a reason).
        detail: String,
    },
    /// Skipped: a marker shows it already ran.
    AlreadyDone,
    /// A media command that may or may not have taken effect (its answer was lost, or an
    /// earlier attempt claimed it and did not finish): not sent again; fed back to the flow.
    Uncertain {
        /// Why its outcome is unknown.
        reason: String,
    },
    /// Failed for good; fed back to the flow.
    Failed {
        /// Why it failed, as the flow and the timeline see it.
        reason: String,
        /// Call Automation says the call no longer exists.
        gone: bool,
    },
    /// Failed transiently; the message will be retried.
    Retry {
        /// Why it will be retried.
        reason: String,
    },
}

impl CommandOutcome {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Done { .. } => "ok",
            Self::AlreadyDone => "skipped",
            Self::Uncertain { .. } => "uncertain",
            Self::Failed { gone: true, .. } => "gone",
            Self::Failed { .. } => "failed",
            Self::Retry { .. } => "retry",
        }
    }
}

impl fmt::Display for CommandOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Done { detail } if detail.is_empty() => f.write_str("ok"),
            Self::Done { detail } => write!(f, "ok: {detail}"),
            Self::AlreadyDone => f.write_str("already done"),
            Self::Uncertain { reason } => write!(f, "outcome unknown, not sent again: {reason}"),
            Self::Failed { reason, gone } => {
                write!(
                    f,
                    "failed{}: {reason}",
                    if *gone { " (call gone)" } else { "" }
                )
            }
            Self::Retry { reason } => write!(f, "will retry: {reason}"),
        }
    }
}

/// Sees every decision and command (the demo's timeline, benchmarks, tests).
pub trait Observer: Send + Sync {
    /// Handling of `input` starts (the message was received and decoded). Benchmarks use it
    /// to measure the time the worker adds before its first command.
    fn input(&self, _call: &CorrelationId, _input: &FlowInput) {}
    /// The flow decided something about `input`.
    fn decision(&self, call: &CorrelationId, input: &FlowInput, transition: &Transition);
    /// A command ran.
    fn command(
        &self,
        call: &CorrelationId,
        command: &Command,
        outcome: &CommandOutcome,
        took: Duration,
    );
}

pub(crate) fn store_err(e: StoreError) -> ExecError {
    if e.is_retryable() {
        ExecError::Transient(e.to_string())
    } else {
        ExecError::Permanent {
            reason: "StoreError",
            description: e.to_string(),
        }
    }
}

/// How draining an outbox ended: the state saved at this version, the call archived, or
/// another handler's write won the compare-and-set.
pub(super) enum Drained {
    Saved(u64),
    Archived,
    Conflict,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_have_labels() {
        assert_eq!(CommandOutcome::AlreadyDone.label(), "skipped");
        assert_eq!(
            CommandOutcome::Failed {
                reason: "x".into(),
                gone: true
            }
            .label(),
            "gone"
        );
        assert_eq!(
            CommandOutcome::Done {
                detail: String::new()
            }
            .to_string(),
            "ok"
        );
    }

    #[test]
    fn finished_calls_are_kept_stats_history_days() {
        let cfg = crate::config::Config::from_toml_str(
            "[acs]\ncallback_url = \"https://x.example/api/callbacks\"\n[stats]\nhistory_days = 3\n",
        )
        .unwrap();
        let o = ExecutorOptions::from_config(&cfg).unwrap();
        assert_eq!(o.audit_ttl, Duration::from_secs(3 * 24 * 3600));
    }
}
