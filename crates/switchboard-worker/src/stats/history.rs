//! The call history: one [`CallRecord`] per finished call, derived from its archived state
//! (kept for `stats.history_days`), for `switchboard calls list|show` and CSV export.

use serde::Serialize;
use switchboard_events::TeamsUserId;
use time::OffsetDateTime;

use super::ledger::VisitOutcome;
use crate::flow::{CallState, Phase};

/// A finished call as the history shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// The call's key (ACS correlation id).
    pub id: String,
    /// The caller's raw id (phone number or ACS user).
    pub from: String,
    /// The number or identity called.
    pub to: String,
    /// When the call arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When an agent joined.
    #[serde(with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    /// When the call ended.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// The queue it was first classified to.
    pub queue: String,
    /// Queues it waited in, in order.
    pub queues: Vec<String>,
    /// Seconds waited before an agent joined (or in total, unanswered).
    pub wait_secs: u64,
    /// Seconds talked with the agent.
    pub talk_secs: u64,
    /// Agents offered the call, in order, with outcomes.
    pub agents: Vec<OfferLine>,
    /// Who answered.
    pub answered_by: Option<TeamsUserId>,
    /// `answered`, `abandoned`, `overflowed`, `transferred` or `ended` (the last wait's
    /// outcome; `ended` also for calls that never waited).
    pub result: &'static str,
    /// Why the call ended, as the flow said.
    pub reason: String,
    /// Recording id, if the call was recorded.
    pub recording_id: Option<String>,
}

/// One agent tried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferLine {
    /// The agent.
    pub agent: TeamsUserId,
    /// When it rang.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `answered`, `declined`, `no_answer`, `caller_left`, `failed` (or `ringing`).
    pub outcome: &'static str,
}

impl CallRecord {
    /// The history record of a (finished) call state.
    pub fn from_state(s: &CallState) -> Self {
        let l = &s.ledger;
        let result = l
            .visits
            .last()
            .and_then(|v| v.outcome)
            .unwrap_or(VisitOutcome::Ended)
            .as_str();
        let end = s.ended_at.unwrap_or(s.updated_at);
        let wait: time::Duration = l
            .visits
            .iter()
            .map(|v| v.left_at.unwrap_or(end) - v.entered_at)
            .sum();
        let talk = match (l.answered_at, l.talk_ended_at.or(s.ended_at)) {
            (Some(a), Some(e)) if e > a => e - a,
            _ => time::Duration::ZERO,
        };
        let reason = match &s.phase {
            Phase::Ended { reason } | Phase::Ending { reason } => reason.clone(),
            p => p.name().to_string(),
        };
        let recording_id = s
            .recording
            .notified
            .first()
            .or(s.recording.held.as_ref())
            .map(|r| r.as_str().to_string());
        Self {
            id: s.correlation_id.to_string(),
            from: s.call.from.raw_id(),
            to: s.call.to.raw_id(),
            started_at: s.started_at,
            answered_at: l.answered_at,
            ended_at: s.ended_at,
            queue: s.entry_queue.to_string(),
            queues: l.visits.iter().map(|v| v.queue.clone()).collect(),
            wait_secs: u64::try_from(wait.whole_seconds()).unwrap_or(0),
            talk_secs: u64::try_from(talk.whole_seconds()).unwrap_or(0),
            agents: l
                .offers
                .iter()
                .map(|o| OfferLine {
                    agent: o.agent.clone(),
                    at: o.at,
                    outcome: o.outcome.map_or("ringing", |x| x.as_str()),
                })
                .collect(),
            answered_by: s.answered_by.clone(),
            result,
            reason,
            recording_id,
        }
    }

    /// The CSV header matching [`CallRecord::csv_row`].
    pub const CSV_HEADER: &'static str = "id,started_at,answered_at,ended_at,from,to,queue,queues,wait_secs,talk_secs,answered_by,agents,result,reason,recording_id";

    /// One CSV line (RFC 4180 quoting; lists joined with `;`, agents as `oid:outcome`).
    pub fn csv_row(&self) -> String {
        let t = |v: Option<OffsetDateTime>| v.map(rfc3339).unwrap_or_default();
        let fields = [
            self.id.clone(),
            rfc3339(self.started_at),
            t(self.answered_at),
            t(self.ended_at),
            self.from.clone(),
            self.to.clone(),
            self.queue.clone(),
            self.queues.join(";"),
            self.wait_secs.to_string(),
            self.talk_secs.to_string(),
            self.answered_by
                .as_ref()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            self.agents
                .iter()
                .map(|o| format!("{}:{}", o.agent, o.outcome))
                .collect::<Vec<_>>()
                .join(";"),
            self.result.to_string(),
            self.reason.clone(),
            self.recording_id.clone().unwrap_or_default(),
        ];
        fields
            .iter()
            .map(|f| csv_field(f))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}
