//! Call timelines of the side-by-side benchmark, from the simulator's per-call records: the
//! setup latency it reports, and `--phases`' median timeline (where a call's time goes).
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use switchboard_sim::{TimelineEntry, TimelineKind};

/// Caller dialled → `AddParticipantSucceeded` delivered, from one call's timeline.
pub fn setup_of(t: &[TimelineEntry]) -> Option<Duration> {
    let dialled = t
        .iter()
        .find(|e| e.kind == TimelineKind::Caller && e.what == "dialled")?;
    let added = t.iter().find(|e| {
        e.kind == TimelineKind::Callback
            && e.what == "AddParticipantSucceeded"
            && e.detail["outcome"] == "delivered"
    })?;
    Some(Duration::from_millis(
        added.elapsed_ms.saturating_sub(dialled.elapsed_ms),
    ))
}

/// Each milestone (the n-th entry of a kind and name, with a callback's outcome) → the
/// median of its time after dialling over the calls that have it, in time order.
pub fn median_timeline(side: &str, load: usize, timelines: &[Vec<TimelineEntry>]) -> String {
    let mut at: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for t in timelines {
        let Some(dialled) = t
            .iter()
            .find(|e| e.kind == TimelineKind::Caller && e.what == "dialled")
        else {
            continue;
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for e in t {
            let mut name = format!("{:?} {}", e.kind, e.what);
            if let Some(o) = e.detail["outcome"].as_str() {
                name = format!("{name} ({o})");
            }
            let n = seen.entry(name.clone()).or_default();
            *n += 1;
            if *n > 1 {
                name = format!("{name} #{n}");
            }
            at.entry(name)
                .or_default()
                .push(e.elapsed_ms.saturating_sub(dialled.elapsed_ms));
        }
    }
    let mut rows: Vec<(u64, String, usize)> = at
        .into_iter()
        .map(|(name, mut v)| {
            v.sort_unstable();
            (v[v.len() / 2], name, v.len())
        })
        .collect();
    rows.sort();
    let mut s = format!("median timeline: {side}, {load} in flight\n");
    for (ms, name, n) in rows {
        s.push_str(&format!("  {ms:>6} ms  {name}  ({n} calls)\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(ms: u64, kind: TimelineKind, what: &str, outcome: Option<&str>) -> TimelineEntry {
        TimelineEntry {
            seq: ms,
            elapsed_ms: ms,
            correlation_id: "c".into(),
            call_connection_id: None,
            kind,
            what: what.into(),
            detail: outcome.map_or(json!({}), |o| json!({ "outcome": o })),
        }
    }

    #[test]
    fn median_timeline_orders_milestones_and_numbers_repeats() {
        let call = |start: u64, added: u64| {
            vec![
                entry(start, TimelineKind::Caller, "dialled", None),
                entry(
                    start + 5,
                    TimelineKind::Callback,
                    "ParticipantsUpdated",
                    Some("delivered"),
                ),
                entry(
                    start + added,
                    TimelineKind::Callback,
                    "AddParticipantSucceeded",
                    Some("delivered"),
                ),
                entry(
                    start + added + 1,
                    TimelineKind::Callback,
                    "ParticipantsUpdated",
                    Some("delivered"),
                ),
            ]
        };
        let timelines = vec![call(1000, 50), call(2000, 70), call(3000, 90)];
        assert_eq!(setup_of(&timelines[1]), Some(Duration::from_millis(70)));
        let t = median_timeline("ours", 60, &timelines);
        let lines: Vec<&str> = t.lines().map(str::trim).collect();
        assert_eq!(
            lines,
            vec![
                "median timeline: ours, 60 in flight",
                "0 ms  Caller dialled  (3 calls)",
                "5 ms  Callback ParticipantsUpdated (delivered)  (3 calls)",
                "70 ms  Callback AddParticipantSucceeded (delivered)  (3 calls)",
                "71 ms  Callback ParticipantsUpdated (delivered) #2  (3 calls)",
            ],
            "{t}"
        );
    }
}
