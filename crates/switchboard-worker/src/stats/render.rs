//! Showing the statistics: a plain-text table (`switchboard stats`, the demo) and Prometheus
//! gauges carrying the same numbers.

use std::fmt::Write as _;

use super::compute::{StatsSnapshot, WindowStats};
use crate::telemetry::Metrics;

/// The statistics as a fixed-width table: one line per queue (live figures, then the last
/// hour and today), then one line per agent.
pub fn render_table(s: &StatsSnapshot) -> String {
    let mut out = String::new();
    let opt = |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |v| format!("{v:.0}{unit}"));
    let _ = writeln!(
        out,
        "Queues at {} (service level: answered within {}s; today since {})",
        rfc3339(s.as_of),
        s.service_level_secs,
        rfc3339(s.today_since)
    );
    let _ = writeln!(
        out,
        "{:<14} {:>4} {:>6} {:>6}  {:>5} {:>4} {:>4} {:>4} {:>4}  {:<7} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>6}",
        "QUEUE", "WAIT", "LONG", "EWT", "AVAIL", "RING", "BUSY", "WRAP", "AWAY",
        "WINDOW", "OFFER", "ANSW", "ABAND", "OVFL", "XFER", "SL", "ASA", "AHT"
    );
    for q in &s.queues {
        let rows: [(&str, &WindowStats); 3] =
            [("5m", &q.last_5m), ("1h", &q.last_1h), ("today", &q.today)];
        for (i, (name, w)) in rows.iter().enumerate() {
            let live = if i == 0 {
                format!(
                    "{:<14} {:>4} {:>5}s {:>6}  {:>5} {:>4} {:>4} {:>4} {:>4}",
                    q.queue,
                    q.waiting,
                    q.longest_wait_secs,
                    q.estimated_wait_secs
                        .map_or("-".to_string(), |v| format!("{v}s")),
                    q.agents.available,
                    q.agents.ringing,
                    q.agents.busy,
                    q.agents.wrap_up,
                    q.agents.away
                )
            } else {
                format!(
                    "{:<14} {:>4} {:>6} {:>6}  {:>5} {:>4} {:>4} {:>4} {:>4}",
                    "", "", "", "", "", "", "", "", ""
                )
            };
            let _ = writeln!(
                out,
                "{live}  {:<7} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>6}",
                name,
                w.offered,
                w.answered,
                w.abandoned,
                w.overflowed,
                w.transferred,
                opt(w.service_level_pct, "%"),
                opt(w.avg_speed_of_answer_secs, "s"),
                opt(w.avg_handle_secs, "s"),
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<38} {:<20} {:<9} {:>20} {:>7} {:>8} {:>9} {:>6}",
        "AGENT", "NAME", "STATE", "SINCE", "HANDLED", "DECLINED", "NO-ANSWER", "OCC"
    );
    for a in &s.agents {
        let _ = writeln!(
            out,
            "{:<38} {:<20} {:<9} {:>20} {:>7} {:>8} {:>9} {:>5.0}%",
            a.id.as_str(),
            a.name.as_deref().unwrap_or("-"),
            a.state,
            a.since.map_or("-".to_string(), |t| {
                format!("{}s ago", (s.as_of - t).whole_seconds().max(0))
            }),
            a.handled,
            a.declined,
            a.no_answer,
            a.occupancy_pct
        );
    }
    out
}

/// Sets the `switchboard_stats_*` gauges from a snapshot: per queue (label `queue`) the live
/// figures, and per queue and window (label `window` = `5m`, `1h`, `today`) the counts and
/// averages (an average that is unknown is not set); per agent (label `agent`) the state
/// (label `state`, value 1), today's counts and occupancy.
pub fn publish_gauges(m: &Metrics, s: &StatsSnapshot) {
    for q in &s.queues {
        let l = [("queue", q.queue.as_str())];
        m.set("switchboard_stats_waiting", &l, f64::from(q.waiting));
        m.set(
            "switchboard_stats_longest_wait_seconds",
            &l,
            q.longest_wait_secs as f64,
        );
        if let Some(e) = q.estimated_wait_secs {
            m.set("switchboard_stats_estimated_wait_seconds", &l, e as f64);
        }
        for (state, n) in [
            ("available", q.agents.available),
            ("ringing", q.agents.ringing),
            ("busy", q.agents.busy),
            ("wrap_up", q.agents.wrap_up),
            ("away", q.agents.away),
        ] {
            m.set(
                "switchboard_stats_agents",
                &[("queue", q.queue.as_str()), ("state", state)],
                f64::from(n),
            );
        }
        for (window, w) in [("5m", &q.last_5m), ("1h", &q.last_1h), ("today", &q.today)] {
            let l = [("queue", q.queue.as_str()), ("window", window)];
            m.set("switchboard_stats_offered", &l, f64::from(w.offered));
            m.set("switchboard_stats_answered", &l, f64::from(w.answered));
            m.set("switchboard_stats_abandoned", &l, f64::from(w.abandoned));
            m.set("switchboard_stats_overflowed", &l, f64::from(w.overflowed));
            m.set(
                "switchboard_stats_transferred",
                &l,
                f64::from(w.transferred),
            );
            if let Some(v) = w.service_level_pct {
                m.set("switchboard_stats_service_level_percent", &l, v);
            }
            if let Some(v) = w.avg_speed_of_answer_secs {
                m.set("switchboard_stats_avg_speed_of_answer_seconds", &l, v);
            }
            if let Some(v) = w.avg_handle_secs {
                m.set("switchboard_stats_avg_handle_seconds", &l, v);
            }
        }
    }
    for a in &s.agents {
        let id = a.id.as_str();
        for state in ["available", "ringing", "busy", "wrap_up", "away"] {
            let v = if a.state == state { 1.0 } else { 0.0 };
            m.set(
                "switchboard_stats_agent_state",
                &[("agent", id), ("state", state)],
                v,
            );
        }
        let l = [("agent", id)];
        m.set("switchboard_stats_agent_handled", &l, f64::from(a.handled));
        m.set(
            "switchboard_stats_agent_declined",
            &l,
            f64::from(a.declined),
        );
        m.set(
            "switchboard_stats_agent_no_answer",
            &l,
            f64::from(a.no_answer),
        );
        m.set(
            "switchboard_stats_agent_occupancy_percent",
            &l,
            a.occupancy_pct,
        );
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
