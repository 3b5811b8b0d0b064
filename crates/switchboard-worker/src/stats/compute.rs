//! The statistics themselves: a pure function of the calls in progress, the finished calls of
//! today (their archived states with their [`CallLedger`](super::CallLedger)), the agents'
//! store records and the queues, at one instant. Every replica reading the same store
//! computes the same numbers.
//!
//! Definitions (over each window: the last 5 minutes, the last hour, today since midnight in
//! the configured time zone):
//! - *offered*: waits that started in the window (a call overflowing to a second queue is
//!   offered to both); *answered* / *abandoned* / *overflowed* / *transferred*: waits that
//!   ended that way in the window.
//! - *service level*: of the waits that ended answered or abandoned in the window, the share
//!   answered within the threshold (none when there were none).
//! - *average speed of answer*: mean wait of the answered ones; *average handle time*: mean
//!   talk time (agent joined → talk ended) of the talks that ended in the window.
//! - *estimated wait*: 0 while an agent is free for every waiting call, else (waiting + 1) ×
//!   today's average handle time ÷ the agents serving the queue (not away); unknown without
//!   a handled call today.
//! - per agent: *occupancy* is the share of the last hour spent talking; *handled*,
//!   *declined* and *no answer* count today's offers by outcome.

use std::collections::BTreeMap;

use serde::Serialize;
use switchboard_events::TeamsUserId;
use switchboard_store::{AgentRecord, AgentStatus};
use time::{Duration, OffsetDateTime, UtcOffset};

use super::ledger::{OfferOutcome, VisitOutcome};
use crate::flow::{CallState, Phase};

/// What the statistics are computed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsOptions {
    /// A wait up to this long counts as answered within the service level.
    pub service_level: std::time::Duration,
    /// "Today" starts at midnight at this offset from UTC.
    pub time_zone: UtcOffset,
}

impl StatsOptions {
    /// The options of a `[stats]` section (the errors name the key).
    pub fn from_config(c: &crate::config::StatsConfig) -> Result<Self, crate::config::ConfigError> {
        Ok(Self {
            service_level: c.service_level(),
            time_zone: c.offset()?,
        })
    }
}

impl crate::config::StatsConfig {
    /// The statistics' options of this section ([`StatsOptions::from_config`]). Defined
    /// here so that the configuration imports nothing from the statistics.
    pub fn options(&self) -> Result<StatsOptions, crate::config::ConfigError> {
        StatsOptions::from_config(self)
    }
}

impl Default for StatsOptions {
    fn default() -> Self {
        Self {
            service_level: std::time::Duration::from_secs(20),
            time_zone: UtcOffset::UTC,
        }
    }
}

/// A queue and the agents who serve it (`None`: every agent in the store).
pub type QueueMembers = BTreeMap<String, Option<Vec<TeamsUserId>>>;

/// Everything the statistics are computed from.
pub struct StatsInput<'a> {
    /// The instant the figures are for.
    pub now: OffsetDateTime,
    /// Threshold and time zone.
    pub options: &'a StatsOptions,
    /// Calls in progress.
    pub live: &'a [CallState],
    /// Finished calls archived since the start of the longest window.
    pub finished: &'a [CallState],
    /// Every agent's store record.
    pub agents: &'a [AgentRecord],
    /// The configured queues with their agents.
    pub queues: &'a QueueMembers,
}

/// The statistics at one instant (`switchboard stats --json`, `GET /api/stats`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    /// When they were computed.
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
    /// Start of "today".
    #[serde(with = "time::serde::rfc3339")]
    pub today_since: OffsetDateTime,
    /// The service-level threshold in seconds.
    pub service_level_secs: u64,
    /// Per queue, by name.
    pub queues: Vec<QueueStats>,
    /// Per agent, by id.
    pub agents: Vec<AgentStats>,
}

/// One queue's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    /// Queue name.
    pub queue: String,
    /// Calls waiting now (an agent may be ringing for them).
    pub waiting: u32,
    /// The longest of their waits, in seconds.
    pub longest_wait_secs: u64,
    /// Estimated wait of a call joining now, in seconds (unknown without a handled call today).
    pub estimated_wait_secs: Option<u64>,
    /// The queue's agents by state.
    pub agents: AgentCounts,
    /// Last 5 minutes.
    #[serde(rename = "last5m")]
    pub last_5m: WindowStats,
    /// Last hour.
    #[serde(rename = "last1h")]
    pub last_1h: WindowStats,
    /// Since midnight in the configured time zone.
    pub today: WindowStats,
}

/// Agents of a queue by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentCounts {
    /// Free to take a call.
    pub available: u32,
    /// Being offered a call.
    pub ringing: u32,
    /// On a call.
    pub busy: u32,
    /// Wrapping up a call.
    pub wrap_up: u32,
    /// Paused or offline.
    pub away: u32,
}

/// A queue's figures over one window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowStats {
    /// Waits that started.
    pub offered: u32,
    /// Waits answered by an agent.
    pub answered: u32,
    /// Callers who hung up waiting.
    pub abandoned: u32,
    /// Waits the queue gave up on.
    pub overflowed: u32,
    /// Callers transferred out.
    pub transferred: u32,
    /// Answered within the threshold, in % of answered + abandoned.
    pub service_level_pct: Option<f64>,
    /// Mean wait of the answered, in seconds.
    pub avg_speed_of_answer_secs: Option<f64>,
    /// Mean talk time of the talks that ended, in seconds.
    pub avg_handle_secs: Option<f64>,
}

/// One agent's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentStats {
    /// Entra object id.
    pub id: TeamsUserId,
    /// Display name, if the store has one.
    pub name: Option<String>,
    /// `available`, `ringing`, `busy`, `wrap_up` or `away`.
    pub state: &'static str,
    /// Since when (unknown for `away`, and for `available` agents who never had a call).
    #[serde(with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// Calls answered today.
    pub handled: u32,
    /// Offers declined today.
    pub declined: u32,
    /// Offers not answered today.
    pub no_answer: u32,
    /// Share of the last hour spent talking, in %.
    pub occupancy_pct: f64,
}

/// Midnight of `now`'s day at `offset`, as an instant.
pub fn today_start(now: OffsetDateTime, offset: UtcOffset) -> OffsetDateTime {
    let local = now.to_offset(offset);
    local.replace_time(time::Time::MIDNIGHT)
}

/// Computes the statistics (definitions: the module docs of `stats/compute.rs`, repeated in
/// the README's *Statistics*).
pub fn compute(input: &StatsInput<'_>) -> StatsSnapshot {
    let now = input.now;
    let today = today_start(now, input.options.time_zone);
    let starts = [now - Duration::minutes(5), now - Duration::hours(1), today];
    let threshold = Duration::try_from(input.options.service_level).unwrap_or(Duration::MAX);
    // A call archived while the live calls were being read may be in both lists.
    let finished_ids: std::collections::HashSet<&str> = input
        .finished
        .iter()
        .map(|c| c.correlation_id.as_str())
        .collect();
    let calls: Vec<&CallState> = input
        .finished
        .iter()
        .chain(
            input
                .live
                .iter()
                .filter(|c| !finished_ids.contains(c.correlation_id.as_str())),
        )
        .collect();

    let agent_states: BTreeMap<&TeamsUserId, (&'static str, Option<OffsetDateTime>)> = input
        .agents
        .iter()
        .map(|a| (&a.id, agent_state(a, input.live)))
        .collect();

    let mut names: Vec<String> = input.queues.keys().cloned().collect();
    for c in &calls {
        for v in &c.ledger.visits {
            if !names.contains(&v.queue) {
                names.push(v.queue.clone());
            }
        }
    }
    names.sort();
    let queues = names
        .into_iter()
        .map(|q| {
            let members = input.queues.get(&q).cloned().flatten();
            let mut counts = AgentCounts::default();
            for (id, (state, _)) in &agent_states {
                if members.as_ref().is_some_and(|m| !m.contains(id)) {
                    continue;
                }
                match *state {
                    "available" => counts.available += 1,
                    "ringing" => counts.ringing += 1,
                    "busy" => counts.busy += 1,
                    "wrap_up" => counts.wrap_up += 1,
                    _ => counts.away += 1,
                }
            }
            let waits: Vec<Duration> = input
                .live
                .iter()
                .filter(|c| c.phase.is_queued() && c.queue.as_str() == q)
                .map(|c| now - c.waiting_since.unwrap_or(now))
                .collect();
            let waiting = u32::try_from(waits.len()).unwrap_or(u32::MAX);
            let longest = waits.iter().max().copied().unwrap_or(Duration::ZERO);
            let [last_5m, last_1h, today_w] = starts.map(|s| window(&calls, &q, s, threshold));
            let serving = counts.available + counts.ringing + counts.busy + counts.wrap_up;
            // A free agent for every waiting call and for one more: no wait.
            let estimated = if counts.available > waiting {
                Some(0)
            } else {
                today_w.avg_handle_secs.map(|aht| {
                    let ewt = f64::from(waiting + 1) * aht / f64::from(serving.max(1));
                    ewt.round() as u64
                })
            };
            QueueStats {
                queue: q,
                waiting,
                longest_wait_secs: secs(longest),
                estimated_wait_secs: estimated,
                agents: counts,
                last_5m,
                last_1h,
                today: today_w,
            }
        })
        .collect();

    let agents = input
        .agents
        .iter()
        .map(|a| {
            let (state, since) = agent_states[&a.id];
            let mut s = AgentStats {
                id: a.id.clone(),
                name: a.display_name.clone(),
                state,
                since,
                handled: 0,
                declined: 0,
                no_answer: 0,
                occupancy_pct: 0.0,
            };
            let hour = now - Duration::hours(1);
            let mut talked = Duration::ZERO;
            for c in &calls {
                for o in c.ledger.offers.iter().filter(|o| o.agent == a.id) {
                    if o.at < today {
                        continue;
                    }
                    match o.outcome {
                        Some(OfferOutcome::Answered) => s.handled += 1,
                        Some(OfferOutcome::Declined) => s.declined += 1,
                        Some(OfferOutcome::NoAnswer) => s.no_answer += 1,
                        _ => {}
                    }
                }
                if c.answered_by.as_ref() == Some(&a.id) {
                    if let Some(start) = c.ledger.answered_at {
                        let end = c.ledger.talk_ended_at.unwrap_or(now).min(now);
                        let from = start.max(hour);
                        if end > from {
                            talked += end - from;
                        }
                    }
                }
            }
            s.occupancy_pct = round1(100.0 * talked.as_seconds_f64() / 3600.0);
            s
        })
        .collect();

    StatsSnapshot {
        as_of: now,
        today_since: today,
        service_level_secs: input.options.service_level.as_secs(),
        queues,
        agents,
    }
}

fn window(calls: &[&CallState], queue: &str, start: OffsetDateTime, sl: Duration) -> WindowStats {
    let mut w = WindowStats::default();
    let (mut within, mut waited, mut handled, mut talks) = (0u32, 0f64, 0f64, 0u32);
    for c in calls {
        for v in c.ledger.visits.iter().filter(|v| v.queue == queue) {
            if v.entered_at >= start {
                w.offered += 1;
            }
            let Some(left) = v.left_at.filter(|l| *l >= start) else {
                continue;
            };
            let wait = left - v.entered_at;
            match v.outcome {
                Some(VisitOutcome::Answered) => {
                    w.answered += 1;
                    waited += wait.as_seconds_f64();
                    if wait <= sl {
                        within += 1;
                    }
                }
                Some(VisitOutcome::Abandoned) => w.abandoned += 1,
                Some(VisitOutcome::Overflowed) => w.overflowed += 1,
                Some(VisitOutcome::Transferred) => w.transferred += 1,
                _ => {}
            }
        }
        let answered_here = c
            .ledger
            .visits
            .iter()
            .any(|v| v.queue == queue && v.outcome == Some(VisitOutcome::Answered));
        if let (true, Some(a), Some(e)) =
            (answered_here, c.ledger.answered_at, c.ledger.talk_ended_at)
        {
            if e >= start {
                talks += 1;
                handled += (e - a).as_seconds_f64();
            }
        }
    }
    let decided = w.answered + w.abandoned;
    w.service_level_pct =
        (decided > 0).then(|| round1(100.0 * f64::from(within) / f64::from(decided)));
    w.avg_speed_of_answer_secs = (w.answered > 0).then(|| round1(waited / f64::from(w.answered)));
    w.avg_handle_secs = (talks > 0).then(|| round1(handled / f64::from(talks)));
    w
}

/// The agent's state and since when, from its store record and the calls in progress.
fn agent_state(a: &AgentRecord, live: &[CallState]) -> (&'static str, Option<OffsetDateTime>) {
    if a.status != AgentStatus::Available {
        return ("away", None);
    }
    let phase_since = |ringing: bool| {
        live.iter()
            .filter_map(|c| match &c.phase {
                Phase::Ringing { agent, since, .. } if ringing && agent == &a.id => Some(*since),
                Phase::Talking { agent, since } if !ringing && agent == &a.id => Some(*since),
                _ => None,
            })
            .min()
    };
    if a.on_call > 0 {
        return ("busy", phase_since(false));
    }
    if a.reserved > 0 {
        return ("ringing", phase_since(true));
    }
    if a.in_wrap_up() {
        return ("wrap_up", a.last_released_at);
    }
    ("available", a.wrap_up_until.or(a.last_released_at))
}

fn secs(d: Duration) -> u64 {
    u64::try_from(d.whole_seconds()).unwrap_or(0)
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
