//! Unit tests of the pure routing decision: one per strategy and per edge case.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
// `Strategy` below is the queue strategy; proptest's trait is only needed for its methods.
use proptest::strategy::Strategy as _;
use switchboard_events::TeamsUserId;
use time::macros::datetime;
use time::OffsetDateTime;

use super::*;
use crate::model::{AgentSnapshot, CallRequirements, QueueName, SkillRequirement};
use crate::presence::{Availability, PresenceFallback, PresenceObservation, PresenceView};
use crate::queue::{CallQueueConfig, OverflowTarget, Strategy};

const NOW: OffsetDateTime = datetime!(2026-03-12 09:00:00 UTC);

fn agent(oid: &str) -> AgentSnapshot {
    AgentSnapshot::new(oid, oid.to_uppercase())
}

fn skilled(oid: &str, skills: &[(&str, u8)]) -> AgentSnapshot {
    let mut a = agent(oid);
    for (s, l) in skills {
        a.skills.insert((*s).to_string(), *l);
    }
    a
}

fn released(mut a: AgentSnapshot, secs_ago: u64) -> AgentSnapshot {
    a.live.last_released_at = Some(NOW - Duration::from_secs(secs_ago));
    a
}

fn call() -> CallRequirements {
    CallRequirements::new("call-1", "support", NOW - Duration::from_secs(10))
}

fn queue() -> CallQueueConfig {
    let mut q = CallQueueConfig::new("support");
    q.overflow = OverflowTarget::Phone {
        number: "+14255550199".into(),
    };
    q
}

/// Everyone in `agents` observed with `availability` just now.
fn presence_all(agents: &[AgentSnapshot], availability: Availability) -> PresenceView {
    agents
        .iter()
        .map(|a| {
            (
                a.oid.clone(),
                PresenceObservation {
                    availability: availability.clone(),
                    activity: availability.to_string(),
                    observed_at: NOW - Duration::from_secs(5),
                },
            )
        })
        .collect()
}

fn set_presence(view: &mut PresenceView, oid: &str, availability: Availability, age_secs: u64) {
    view.insert(
        TeamsUserId::from(oid),
        PresenceObservation {
            availability: availability.clone(),
            activity: availability.to_string(),
            observed_at: NOW - Duration::from_secs(age_secs),
        },
    );
}

fn none() -> HashSet<TeamsUserId> {
    HashSet::new()
}

fn excluded(ids: &[&str]) -> HashSet<TeamsUserId> {
    ids.iter().map(|s| TeamsUserId::from(*s)).collect()
}

fn ids(decision: &RoutingDecision) -> Vec<String> {
    decision
        .ranked_ids()
        .into_iter()
        .map(|id| id.to_string())
        .collect()
}

fn decide(agents: &[AgentSnapshot], presence: &PresenceView) -> RoutingDecision {
    rank_agents(&call(), &queue(), agents, presence, NOW, &none())
}

#[test]
fn no_agents_overflows_immediately() {
    let d = decide(&[], &PresenceView::new());
    assert_eq!(
        d,
        RoutingDecision::Overflow {
            target: queue().overflow,
            reason: OverflowReason::NoEligibleAgents
        }
    );
}

#[test]
fn disabled_agents_are_not_eligible() {
    let mut a = agent("a");
    a.enabled = false;
    let d = decide(&[a.clone()], &presence_all(&[a], Availability::Available));
    assert!(matches!(
        d,
        RoutingDecision::Overflow {
            reason: OverflowReason::NoEligibleAgents,
            ..
        }
    ));
}

#[test]
fn missing_or_low_skill_makes_an_agent_ineligible() {
    let mut q = queue();
    q.required_skills = vec![SkillRequirement::new("billing", 3)];
    let agents = vec![
        skilled("a", &[("billing", 2)]), // below the minimum
        skilled("b", &[("sales", 9)]),   // skill missing
    ];
    let p = presence_all(&agents, Availability::Available);
    let d = rank_agents(&call(), &q, &agents, &p, NOW, &none());
    assert!(matches!(
        d,
        RoutingDecision::Overflow {
            reason: OverflowReason::NoEligibleAgents,
            ..
        }
    ));

    let agents = vec![
        skilled("a", &[("billing", 2)]),
        skilled("c", &[("billing", 3)]), // exactly the minimum qualifies
    ];
    let p = presence_all(&agents, Availability::Available);
    let d = rank_agents(&call(), &q, &agents, &p, NOW, &none());
    assert_eq!(ids(&d), vec!["c"]);
}

#[test]
fn extra_skills_of_the_call_also_apply() {
    let agents = vec![
        skilled("a", &[("spanish", 1)]),
        skilled("b", &[("english", 5)]),
    ];
    let p = presence_all(&agents, Availability::Available);
    let mut c = call();
    c.extra_skills = vec![SkillRequirement::new("spanish", 1)];
    let d = rank_agents(&c, &queue(), &agents, &p, NOW, &none());
    assert_eq!(ids(&d), vec!["a"]);
}

#[test]
fn all_busy_waits_with_counts() {
    let mut a = agent("a");
    a.live.active_calls = 1;
    let mut b = agent("b");
    b.live.reserved = 1; // a ringing offer holds the capacity too
    let agents = vec![a, b];
    let d = decide(&agents, &presence_all(&agents, Availability::Available));
    assert_eq!(
        d,
        RoutingDecision::Wait {
            reason: WaitReason {
                untried: 2,
                at_capacity: 2,
                ..WaitReason::default()
            },
            retry_after: Duration::from_secs(5),
        }
    );
}

#[test]
fn presence_busy_or_away_is_not_routable() {
    let agents = vec![agent("a"), agent("b"), agent("c")];
    let mut p = PresenceView::new();
    set_presence(&mut p, "a", Availability::Busy, 1);
    set_presence(&mut p, "b", Availability::Away, 1);
    set_presence(&mut p, "c", Availability::Offline, 1);
    let d = decide(&agents, &p);
    assert_eq!(
        d,
        RoutingDecision::Wait {
            reason: WaitReason {
                untried: 3,
                not_available: 3,
                ..WaitReason::default()
            },
            retry_after: Duration::from_secs(5),
        }
    );
}

#[test]
fn routable_availabilities_are_configurable() {
    let agents = vec![agent("a"), agent("b")];
    let mut p = PresenceView::new();
    set_presence(&mut p, "a", Availability::BusyIdle, 1);
    set_presence(&mut p, "b", Availability::AvailableIdle, 1);
    assert_eq!(ids(&decide(&agents, &p)), vec!["b"]);

    let mut q = queue();
    q.presence.routable.insert(Availability::BusyIdle);
    let d = rank_agents(&call(), &q, &agents, &p, NOW, &none());
    assert_eq!(ids(&d), vec!["a", "b"]);

    // Only Available: AvailableIdle no longer counts.
    q.presence.routable = [Availability::Available].into_iter().collect();
    let d = rank_agents(&call(), &q, &agents, &p, NOW, &none());
    assert!(matches!(d, RoutingDecision::Wait { .. }));
}

#[test]
fn unknown_presence_falls_back_to_roster_after_confirmed_agents() {
    // "a" has no reading, "b" is stale, "c" and "z" are confirmed. With fallback `route`
    // the confirmed agents come first even though "a" has been idle longest.
    let agents = vec![
        released(agent("a"), 9_000),
        released(agent("b"), 8_000),
        released(agent("c"), 10),
        released(agent("z"), 20),
    ];
    let mut p = PresenceView::new();
    set_presence(&mut p, "b", Availability::Available, 600); // older than max_age (120 s)
    set_presence(&mut p, "c", Availability::Available, 1);
    set_presence(&mut p, "z", Availability::Available, 1);
    let d = decide(&agents, &p);
    assert_eq!(ids(&d), vec!["z", "c", "a", "b"]);
    let c = d.candidates();
    assert_eq!(c[0].presence, CandidatePresence::Confirmed);
    assert_eq!(
        c[2].presence,
        CandidatePresence::Assumed {
            status: PresenceStatus::Unknown
        }
    );
    assert_eq!(
        c[3].presence,
        CandidatePresence::Assumed {
            status: PresenceStatus::Stale { age_secs: 600 }
        }
    );
}

#[test]
fn unknown_presence_with_fallback_wait_waits() {
    let agents = vec![agent("a"), agent("b")];
    let mut p = PresenceView::new();
    set_presence(&mut p, "b", Availability::Available, 3_600); // stale
    let mut q = queue();
    q.presence.fallback = PresenceFallback::Wait;
    let d = rank_agents(&call(), &q, &agents, &p, NOW, &none());
    assert_eq!(
        d,
        RoutingDecision::Wait {
            reason: WaitReason {
                untried: 2,
                presence_unknown: 2,
                ..WaitReason::default()
            },
            retry_after: Duration::from_secs(5),
        }
    );
    // Graph completely unavailable (empty view) behaves the same way.
    let d = rank_agents(&call(), &q, &agents, &PresenceView::new(), NOW, &none());
    assert!(matches!(d, RoutingDecision::Wait { .. }));
}

#[test]
fn longest_idle_orders_by_in_use_then_idle_time_never_released_first() {
    let mut busy_two = released(agent("m"), 50_000);
    busy_two.capacity = 2;
    busy_two.live.active_calls = 1;
    let agents = vec![
        released(agent("a"), 30),
        released(agent("b"), 300),
        agent("c"), // never had a call
        busy_two,   // longest release but already on a call
    ];
    let p = presence_all(&agents, Availability::Available);
    let d = decide(&agents, &p);
    assert_eq!(ids(&d), vec!["c", "b", "a", "m"]);
    let c = d.candidates();
    assert_eq!(c[0].score, i64::MAX);
    assert_eq!(c[1].score, 300);
    assert_eq!(
        c[1].reason,
        RankReason::LongestIdle {
            in_use: 0,
            idle_secs: Some(300)
        }
    );
    assert_eq!(c[3].presence, CandidatePresence::OnOurCall);
}

#[test]
fn ties_break_by_oid_whatever_the_input_order() {
    let agents = vec![
        released(agent("d"), 100),
        released(agent("b"), 100),
        released(agent("c"), 100),
        released(agent("a"), 100),
    ];
    let p = presence_all(&agents, Availability::Available);
    for strategy in [
        Strategy::LongestIdle,
        Strategy::RoundRobin,
        Strategy::SkillsBestMatch,
    ] {
        let mut q = queue();
        q.strategy = strategy;
        let mut shuffled = agents.clone();
        let first = rank_agents(&call(), &q, &shuffled, &p, NOW, &none());
        assert_eq!(ids(&first), vec!["a", "b", "c", "d"], "{strategy}");
        shuffled.reverse();
        let second = rank_agents(&call(), &q, &shuffled, &p, NOW, &none());
        assert_eq!(first, second, "{strategy}");
    }
}

#[test]
fn ring_no_answer_offers_next_best_excluding_tried() {
    let agents = vec![
        released(agent("a"), 500),
        released(agent("b"), 400),
        released(agent("c"), 300),
    ];
    let p = presence_all(&agents, Availability::Available);
    let mut c = call();
    let d = rank_agents(&c, &queue(), &agents, &p, NOW, &none());
    assert_eq!(ids(&d), vec!["a", "b", "c"]);

    // "a" did not answer: next decision skips them.
    c.attempts = 1;
    let d = rank_agents(&c, &queue(), &agents, &p, NOW, &excluded(&["a"]));
    assert_eq!(ids(&d), vec!["b", "c"]);

    c.attempts = 2;
    let d = rank_agents(&c, &queue(), &agents, &p, NOW, &excluded(&["a", "b"]));
    assert_eq!(ids(&d), vec!["c"]);
}

#[test]
fn all_declined_overflows() {
    let agents = vec![agent("a"), agent("b")];
    let p = presence_all(&agents, Availability::Available);
    let mut c = call();
    c.attempts = 2;
    let d = rank_agents(&c, &queue(), &agents, &p, NOW, &excluded(&["a", "b"]));
    assert_eq!(
        d,
        RoutingDecision::Overflow {
            target: queue().overflow,
            reason: OverflowReason::AllAgentsTried { tried: 2 }
        }
    );
}

#[test]
fn tried_agents_that_are_also_busy_still_count_as_tried_not_busy() {
    // One agent tried, the other busy: the call waits for the busy one.
    let mut b = agent("b");
    b.live.active_calls = 1;
    let agents = vec![agent("a"), b];
    let p = presence_all(&agents, Availability::Available);
    let d = rank_agents(&call(), &queue(), &agents, &p, NOW, &excluded(&["a"]));
    assert_eq!(
        d,
        RoutingDecision::Wait {
            reason: WaitReason {
                untried: 1,
                at_capacity: 1,
                ..WaitReason::default()
            },
            retry_after: Duration::from_secs(5),
        }
    );
}

#[test]
fn max_attempts_overflows_before_looking_at_agents() {
    let agents = vec![agent("a")];
    let p = presence_all(&agents, Availability::Available);
    let mut c = call();
    c.attempts = 3;
    let d = rank_agents(&c, &queue(), &agents, &p, NOW, &none());
    assert_eq!(
        d,
        RoutingDecision::Overflow {
            target: queue().overflow,
            reason: OverflowReason::MaxAttemptsReached { attempts: 3 }
        }
    );
    c.attempts = 2;
    assert_eq!(
        ids(&rank_agents(&c, &queue(), &agents, &p, NOW, &none())),
        vec!["a"]
    );
}

#[test]
fn max_wait_overflows_and_caps_retry_after() {
    let agents = vec![agent("a")];
    let mut p = PresenceView::new();
    set_presence(&mut p, "a", Availability::Busy, 1);
    let mut q = queue();
    q.max_wait = Duration::from_secs(60);
    q.wait_retry = Duration::from_secs(30);

    // 58 s in: wait, but only until the deadline (2 s), not the 30 s retry.
    let mut c = call();
    c.waiting_since = NOW - Duration::from_secs(58);
    match rank_agents(&c, &q, &agents, &p, NOW, &none()) {
        RoutingDecision::Wait { retry_after, .. } => {
            assert_eq!(retry_after, Duration::from_secs(2))
        }
        other => panic!("expected wait, got {other:?}"),
    }

    // At the deadline: overflow even if an agent would be free.
    c.waiting_since = NOW - Duration::from_secs(60);
    let p = presence_all(&agents, Availability::Available);
    assert_eq!(
        rank_agents(&c, &q, &agents, &p, NOW, &none()),
        RoutingDecision::Overflow {
            target: q.overflow.clone(),
            reason: OverflowReason::MaxWaitExceeded { waited_secs: 60 }
        }
    );
}

#[test]
fn wrap_up_is_respected_and_sets_retry_after() {
    let mut a = released(agent("a"), 10);
    a.wrap_up = Duration::from_secs(30); // ends in 20 s
    let mut b = released(agent("b"), 1);
    b.live.wrap_up_until = Some(NOW + Duration::from_secs(12)); // store says 12 s
    let agents = vec![a.clone(), b];
    let p = presence_all(&agents, Availability::Available);
    let mut q = queue();
    q.wait_retry = Duration::from_secs(60);
    let d = rank_agents(&call(), &q, &agents, &p, NOW, &none());
    assert_eq!(
        d,
        RoutingDecision::Wait {
            reason: WaitReason {
                untried: 2,
                in_wrap_up: 2,
                ..WaitReason::default()
            },
            retry_after: Duration::from_secs(12),
        }
    );

    // Once the wrap-up is over the agent is offered again.
    let later = NOW + Duration::from_secs(20);
    let d = rank_agents(&call(), &q, &[a], &p, later, &none());
    assert_eq!(ids(&d), vec!["a"]);
}

#[test]
fn capacity_above_one_takes_a_second_call_despite_busy_presence() {
    let mut a = released(agent("a"), 1_000);
    a.capacity = 2;
    a.live.active_calls = 1;
    let mut full = agent("f");
    full.capacity = 2;
    full.live.active_calls = 1;
    full.live.reserved = 1;
    let agents = vec![a, full, released(agent("b"), 5)];
    // Graph shows "a" Busy/InACall because of our first call.
    let mut p = presence_all(&agents, Availability::Available);
    set_presence(&mut p, "a", Availability::Busy, 1);
    let d = decide(&agents, &p);
    // "b" is idle (0 in use) so it goes first; "a" has a free slot; "f" is full.
    assert_eq!(ids(&d), vec!["b", "a"]);
    assert_eq!(d.candidates()[1].presence, CandidatePresence::OnOurCall);

    // If the operator wants presence respected even then, "a" is not routable.
    let mut q = queue();
    q.presence.ignore_while_on_our_call = false;
    let d = rank_agents(&call(), &q, &agents, &p, NOW, &none());
    assert_eq!(ids(&d), vec!["b"]);
}

#[test]
fn round_robin_starts_after_the_cursor_and_wraps() {
    let agents = vec![agent("d"), agent("a"), agent("c"), agent("b")];
    let p = presence_all(&agents, Availability::Available);
    let mut q = queue();
    q.strategy = Strategy::RoundRobin;
    let mut c = call();

    let d = rank_agents(&c, &q, &agents, &p, NOW, &none());
    assert_eq!(ids(&d), vec!["a", "b", "c", "d"]);

    c.round_robin_cursor = Some("b".into());
    let d = rank_agents(&c, &q, &agents, &p, NOW, &none());
    assert_eq!(ids(&d), vec!["c", "d", "a", "b"]);
    assert_eq!(
        d.candidates()[0].reason,
        RankReason::RoundRobin { position: 0 }
    );
    assert_eq!(d.candidates()[0].score, 4);

    c.round_robin_cursor = Some("d".into());
    assert_eq!(
        ids(&rank_agents(&c, &q, &agents, &p, NOW, &none())),
        vec!["a", "b", "c", "d"]
    );

    // The cursor agent left the roster: the ring continues where it would have been.
    c.round_robin_cursor = Some("bb".into());
    assert_eq!(
        ids(&rank_agents(&c, &q, &agents, &p, NOW, &none())),
        vec!["c", "d", "a", "b"]
    );
}

#[test]
fn round_robin_ignores_idle_time() {
    let agents = vec![released(agent("a"), 1), released(agent("b"), 10_000)];
    let p = presence_all(&agents, Availability::Available);
    let mut q = queue();
    q.strategy = Strategy::RoundRobin;
    assert_eq!(
        ids(&rank_agents(&call(), &q, &agents, &p, NOW, &none())),
        vec!["a", "b"]
    );
}

#[test]
fn skills_best_match_scores_levels_of_required_and_preferred_skills() {
    let mut q = queue();
    q.strategy = Strategy::SkillsBestMatch;
    q.required_skills = vec![SkillRequirement::new("billing", 1)];
    q.preferred_skills = vec![SkillRequirement::new("spanish", 0)];
    let agents = vec![
        skilled("a", &[("billing", 3)]),                 // 3
        skilled("b", &[("billing", 5)]),                 // 5
        skilled("c", &[("billing", 2), ("spanish", 4)]), // 6
        skilled("d", &[("billing", 2), ("sales", 9)]),   // 2, sales is not scored
        skilled("e", &[("spanish", 9)]),                 // not eligible
    ];
    let p = presence_all(&agents, Availability::Available);
    let d = rank_agents(&call(), &q, &agents, &p, NOW, &none());
    assert_eq!(ids(&d), vec!["c", "b", "a", "d"]);
    let scores: Vec<i64> = d.candidates().iter().map(|c| c.score).collect();
    assert_eq!(scores, vec![6, 5, 3, 2]);
}

#[test]
fn skills_best_match_ties_go_to_the_longest_idle() {
    let mut q = queue();
    q.strategy = Strategy::SkillsBestMatch;
    q.required_skills = vec![SkillRequirement::new("billing", 1)];
    let agents = vec![
        released(skilled("a", &[("billing", 4)]), 10),
        released(skilled("b", &[("billing", 4)]), 900),
        released(skilled("c", &[("billing", 1)]), 9_999),
    ];
    let p = presence_all(&agents, Availability::Available);
    let d = rank_agents(&call(), &q, &agents, &p, NOW, &none());
    assert_eq!(ids(&d), vec!["b", "a", "c"]);
}

#[test]
fn skills_counted_once_when_required_and_preferred_overlap() {
    let mut q = queue();
    q.strategy = Strategy::SkillsBestMatch;
    q.required_skills = vec![SkillRequirement::new("billing", 1)];
    q.preferred_skills = vec![SkillRequirement::new("billing", 1)];
    let agents = vec![skilled("a", &[("billing", 4)])];
    let p = presence_all(&agents, Availability::Available);
    let d = rank_agents(&call(), &q, &agents, &p, NOW, &none());
    assert_eq!(d.candidates()[0].score, 4);
}

#[test]
fn decision_serializes_for_timelines() {
    let agents = vec![agent("a")];
    let p = presence_all(&agents, Availability::Available);
    let json = serde_json::to_value(decide(&agents, &p)).unwrap();
    assert_eq!(json["decision"], "offer");
    assert_eq!(json["ranked"][0]["agent"], "a");
    assert_eq!(json["ranked"][0]["reason"]["strategy"], "longest-idle");
    assert_eq!(json["ranked"][0]["presence"]["presence"], "confirmed");

    let json = serde_json::to_value(decide(&[], &p)).unwrap();
    assert_eq!(json["decision"], "overflow");
    assert_eq!(json["reason"]["reason"], "no-eligible-agents");
    assert_eq!(json["target"]["kind"], "phone");
}

fn queues() -> BTreeMap<QueueName, CallQueueConfig> {
    let mut vip = CallQueueConfig::new("vip");
    vip.priority = 10;
    vip.required_skills = vec![SkillRequirement::new("vip", 1)];
    let general = CallQueueConfig::new("general");
    let mut low = CallQueueConfig::new("low");
    low.priority = -5;
    [vip, general, low]
        .into_iter()
        .map(|q| (q.name.clone(), q))
        .collect()
}

fn waiting(id: &str, queue: &str, waited_secs: u64) -> CallRequirements {
    CallRequirements::new(id, queue, NOW - Duration::from_secs(waited_secs))
}

#[test]
fn waiting_calls_are_served_by_queue_priority_then_wait_time() {
    let calls = vec![
        waiting("c1", "general", 100),
        waiting("c2", "low", 900),
        waiting("c3", "vip", 5),
        waiting("c4", "general", 200),
        waiting("c5", "unknown-queue", 10_000),
        waiting("c0", "general", 200), // same wait as c4: call id decides
    ];
    let order: Vec<&str> = order_waiting_calls(&calls, &queues())
        .into_iter()
        .map(|i| calls[i].call_id.as_str())
        .collect();
    assert_eq!(order, vec!["c3", "c0", "c4", "c1", "c2", "c5"]);
}

#[test]
fn freed_agent_takes_the_first_call_it_is_qualified_for() {
    let calls = vec![
        waiting("c1", "general", 100),
        waiting("c3", "vip", 5),
        waiting("c5", "unknown-queue", 10_000),
    ];
    // Without the vip skill the agent skips the vip call.
    let plain = agent("a");
    assert_eq!(next_call_for_agent(&plain, &calls, &queues()), Some(0));
    let vip = skilled("v", &[("vip", 1)]);
    assert_eq!(next_call_for_agent(&vip, &calls, &queues()), Some(1));
    // A disabled agent takes nothing; an unknown queue is never served.
    let mut off = vip.clone();
    off.enabled = false;
    assert_eq!(next_call_for_agent(&off, &calls, &queues()), None);
    assert_eq!(next_call_for_agent(&plain, &calls[2..], &queues()), None);
}

fn arb_agent() -> impl proptest::strategy::Strategy<Value = AgentSnapshot> {
    (
        "[a-f]{1,3}",
        0u32..3,
        0u32..2,
        proptest::option::of(0u64..5_000),
        1u32..3,
        0u8..5,
        any::<bool>(),
    )
        .prop_map(
            |(oid, active, reserved, released_ago, capacity, level, enabled)| {
                let mut a = AgentSnapshot::new(oid.as_str(), oid.as_str());
                a.live.active_calls = active;
                a.live.reserved = reserved;
                a.live.last_released_at = released_ago.map(|s| NOW - Duration::from_secs(s));
                a.capacity = capacity;
                a.wrap_up = Duration::from_secs(20);
                a.enabled = enabled;
                a.skills.insert("billing".into(), level);
                a
            },
        )
}

proptest! {
    /// The decision depends on the set of agents, never on their order, and every offered
    /// agent is eligible, untried, under capacity and out of wrap-up.
    #[test]
    fn decision_is_order_independent_and_sound(
        mut agents in proptest::collection::vec(arb_agent(), 0..12),
        strategy in prop_oneof![
            Just(crate::queue::Strategy::LongestIdle),
            Just(crate::queue::Strategy::RoundRobin),
            Just(crate::queue::Strategy::SkillsBestMatch),
        ],
        tried in proptest::collection::hash_set("[a-f]{1,3}", 0..4),
        cursor in proptest::option::of("[a-f]{1,3}"),
    ) {
        // OIDs are unique in a roster.
        let mut seen = HashSet::new();
        agents.retain(|a| seen.insert(a.oid.clone()));
        let mut q = queue();
        q.strategy = strategy;
        q.required_skills = vec![SkillRequirement::new("billing", 2)];
        let mut c = call();
        c.round_robin_cursor = cursor.map(TeamsUserId::from);
        let tried: HashSet<TeamsUserId> = tried.into_iter().map(TeamsUserId::from).collect();
        let p = presence_all(&agents, Availability::Available);

        let forward = rank_agents(&c, &q, &agents, &p, NOW, &tried);
        agents.reverse();
        let backward = rank_agents(&c, &q, &agents, &p, NOW, &tried);
        prop_assert_eq!(&forward, &backward);

        for cand in forward.candidates() {
            let a = agents.iter().find(|a| a.oid == cand.agent).unwrap();
            prop_assert!(a.enabled && a.meets(&q.required_skills));
            prop_assert!(!tried.contains(&a.oid));
            prop_assert!(a.has_free_capacity());
            prop_assert!(!a.in_wrap_up(NOW));
        }
        if let RoutingDecision::Wait { retry_after, .. } = forward {
            prop_assert!(retry_after >= MIN_RETRY_AFTER);
        }
    }
}

proptest! {
    /// `next_call_for_agent` (a single pass) picks exactly the first qualifying call of
    /// `order_waiting_calls` (a full sort), and the sort ignores input order.
    #[test]
    fn next_call_agrees_with_the_full_order(
        specs in proptest::collection::vec(
            (0u8..4, 0u64..50, "[a-c]{1,2}", any::<bool>()), 0..20),
        vip_level in 0u8..2,
    ) {
        let names = ["vip", "general", "low", "nowhere"];
        let calls: Vec<CallRequirements> = specs
            .iter()
            .map(|(q, waited, id, spanish)| {
                let mut c = waiting(id, names[usize::from(*q)], *waited);
                if *spanish {
                    c.extra_skills = vec![SkillRequirement::new("spanish", 1)];
                }
                c
            })
            .collect();
        let agent = skilled("a", &[("vip", vip_level), ("spanish", 1)]);
        let order = order_waiting_calls(&calls, &queues());
        let expected = order.iter().copied().find(|&i| {
            let c = &calls[i];
            queues().get(&c.queue).is_some_and(|q| agent.meets(&q.required_skills))
                && agent.meets(&c.extra_skills)
        });
        let got = next_call_for_agent(&agent, &calls, &queues());
        // Same key and id means same call for our purposes (ids can repeat in this test).
        prop_assert_eq!(
            got.map(|i| (&calls[i].queue, calls[i].waiting_since, &calls[i].call_id)),
            expected.map(|i| (&calls[i].queue, calls[i].waiting_since, &calls[i].call_id))
        );

        let mut reversed = calls.clone();
        reversed.reverse();
        let a: Vec<_> = order.iter().map(|&i| (&calls[i].call_id, calls[i].waiting_since)).collect();
        let r = order_waiting_calls(&reversed, &queues());
        let b: Vec<_> = r.iter().map(|&i| (&reversed[i].call_id, reversed[i].waiting_since)).collect();
        prop_assert_eq!(a, b);
    }
}

#[test]
fn extreme_durations_and_timestamps_do_not_panic() {
    let mut q = queue();
    q.max_wait = Duration::from_secs(u64::MAX);
    q.wait_retry = Duration::ZERO;
    let mut a = agent("a");
    a.live.active_calls = 1;
    let agents = vec![a];
    let p = presence_all(&agents, Availability::Available);
    match rank_agents(&call(), &q, &agents, &p, NOW, &none()) {
        RoutingDecision::Wait { retry_after, .. } => assert_eq!(retry_after, MIN_RETRY_AFTER),
        other => panic!("expected wait, got {other:?}"),
    }
    let mut c = call();
    c.waiting_since = datetime!(-9999-01-01 00:00:00 UTC);
    q.max_wait = Duration::from_secs(60);
    assert!(matches!(
        rank_agents(&c, &q, &agents, &p, NOW, &none()),
        RoutingDecision::Overflow {
            reason: OverflowReason::MaxWaitExceeded { .. },
            ..
        }
    ));
}
