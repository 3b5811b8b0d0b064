//! Model-based property test: random sequences of store operations (reservations with
//! renew/confirm/release/wrap-up/expiry, status changes, clock moves, markers and
//! compare-and-set) against the SQLite store and a plain in-memory model of the contract.
//! After every step the results and every agent's observable state must match the model.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;
use switchboard_store::{
    AgentProfile, AgentStatus, CasOutcome, Clock, ManualClock, Reservation, ReservationState,
    SqliteOptions, SqliteStore, Store, TeamsUserId,
};
use time::OffsetDateTime;

const CAPACITIES: [u32; 3] = [1, 2, 1];
/// Index 3 names an agent that is not in the roster.
const AGENTS: usize = 4;

fn agent_id(i: usize) -> TeamsUserId {
    TeamsUserId::from(format!("agent-{i}"))
}

#[derive(Debug, Clone)]
enum Op {
    Reserve {
        agent: usize,
        call: usize,
        ttl: u64,
    },
    ReserveFirst {
        order: Vec<usize>,
        call: usize,
        ttl: u64,
    },
    Renew {
        pick: usize,
        ttl: u64,
    },
    Confirm {
        pick: usize,
        ttl: u64,
    },
    Release {
        pick: usize,
        wrap: u64,
    },
    SetStatus {
        agent: usize,
        status: AgentStatus,
    },
    Advance {
        ms: u64,
    },
    MarkOnce {
        key: usize,
        ttl: u64,
    },
    PutIf {
        key: usize,
        expected: u8,
        ttl: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let ttl = 1u64..60;
    prop_oneof![
        3 => (0..AGENTS, 0..5usize, ttl.clone()).prop_map(|(agent, call, ttl)| Op::Reserve { agent, call, ttl }),
        3 => (proptest::sample::subsequence((0..AGENTS).collect::<Vec<_>>(), 1..=AGENTS).prop_shuffle(), 0..5usize, ttl.clone())
            .prop_map(|(order, call, ttl)| Op::ReserveFirst { order, call, ttl }),
        2 => (any::<usize>(), ttl.clone()).prop_map(|(pick, ttl)| Op::Renew { pick, ttl }),
        1 => (any::<usize>(), ttl.clone()).prop_map(|(pick, ttl)| Op::Confirm { pick, ttl }),
        3 => (any::<usize>(), prop_oneof![Just(0u64), 1u64..30]).prop_map(|(pick, wrap)| Op::Release { pick, wrap }),
        1 => (0..AGENTS, prop_oneof![Just(AgentStatus::Available), Just(AgentStatus::Paused), Just(AgentStatus::Offline)])
            .prop_map(|(agent, status)| Op::SetStatus { agent, status }),
        3 => (0u64..40_000).prop_map(|ms| Op::Advance { ms }),
        1 => (0..3usize, ttl.clone()).prop_map(|(key, ttl)| Op::MarkOnce { key, ttl }),
        2 => (0..2usize, 0u8..3, ttl).prop_map(|(key, expected, ttl)| Op::PutIf { key, expected, ttl }),
    ]
}

#[derive(Debug, Clone)]
struct MAgent {
    capacity: u32,
    status: AgentStatus,
    wrap_until: Option<i64>,
    last_released: Option<i64>,
    last_reserved: Option<i64>,
}

#[derive(Debug, Clone)]
struct MRes {
    token: String,
    agent: usize,
    call: String,
    created: i64,
    expires: i64,
    on_call: bool,
}

#[derive(Default)]
struct Model {
    now: i64,
    agents: HashMap<usize, MAgent>,
    res: Vec<MRes>,
    marks: HashMap<usize, i64>,
    docs: HashMap<usize, (u64, i64)>,
    versions_seen: HashSet<u64>,
    tokens_seen: HashSet<String>,
}

impl Model {
    fn held(&self, token: &str) -> Option<usize> {
        self.res
            .iter()
            .position(|r| r.token == token && r.expires > self.now)
    }

    fn active(&self, agent: usize) -> usize {
        self.res
            .iter()
            .filter(|r| r.agent == agent && r.expires > self.now)
            .count()
    }

    fn free(&self, agent: usize) -> bool {
        self.agents.get(&agent).is_some_and(|a| {
            a.status == AgentStatus::Available
                && a.wrap_until.is_none_or(|w| w <= self.now)
                && (self.active(agent) as u32) < a.capacity
        })
    }
}

fn at(base: OffsetDateTime, ms: i64) -> OffsetDateTime {
    base + time::Duration::milliseconds(ms)
}

fn check_res(base: OffsetDateTime, got: &Reservation, want: &MRes) {
    assert_eq!(got.token.as_str(), want.token);
    assert_eq!(got.agent, agent_id(want.agent));
    assert_eq!(got.call_key, want.call);
    assert_eq!(got.created_at, at(base, want.created));
    assert_eq!(got.expires_at, at(base, want.expires));
    let state = if want.on_call {
        ReservationState::OnCall
    } else {
        ReservationState::Reserved
    };
    assert_eq!(got.state, state);
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_fixed_instant();
    let base = clock.now();
    let store = SqliteStore::open_with(
        dir.path().join("model.db"),
        Arc::new(clock.clone()),
        SqliteOptions::default(),
    )
    .await
    .unwrap();
    let mut m = Model::default();
    for (i, cap) in CAPACITIES.iter().enumerate() {
        store
            .upsert_agent(&AgentProfile::new(agent_id(i)).with_capacity(*cap))
            .await
            .unwrap();
        m.agents.insert(
            i,
            MAgent {
                capacity: *cap,
                status: AgentStatus::Available,
                wrap_until: None,
                last_released: None,
                last_reserved: None,
            },
        );
    }
    // Every reservation handle the store ever returned, stale ones included.
    let mut handles: Vec<Reservation> = Vec::new();

    for (step, op) in ops.into_iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        match op {
            Op::Reserve { agent, call, ttl } => {
                let got = store
                    .reserve(
                        &agent_id(agent),
                        &format!("call-{call}"),
                        Duration::from_secs(ttl),
                    )
                    .await
                    .unwrap();
                reserve_model(&mut m, base, &[agent], call, ttl, got.as_ref(), &ctx);
                handles.extend(got);
            }
            Op::ReserveFirst { order, call, ttl } => {
                let ids: Vec<TeamsUserId> = order.iter().map(|a| agent_id(*a)).collect();
                let got = store
                    .reserve_first_of(&ids, &format!("call-{call}"), Duration::from_secs(ttl))
                    .await
                    .unwrap();
                reserve_model(&mut m, base, &order, call, ttl, got.as_ref(), &ctx);
                handles.extend(got);
            }
            Op::Renew { pick, ttl } | Op::Confirm { pick, ttl } if handles.is_empty() => {
                let _ = (pick, ttl);
            }
            Op::Renew { pick, ttl } => {
                let h = handles[pick % handles.len()].clone();
                let got = store.renew(&h, Duration::from_secs(ttl)).await.unwrap();
                renew_model(&mut m, base, &h, ttl, false, got.as_ref(), &ctx);
                handles.extend(got);
            }
            Op::Confirm { pick, ttl } => {
                let h = handles[pick % handles.len()].clone();
                let got = store.confirm(&h, Duration::from_secs(ttl)).await.unwrap();
                renew_model(&mut m, base, &h, ttl, true, got.as_ref(), &ctx);
                handles.extend(got);
            }
            Op::Release { .. } if handles.is_empty() => {}
            Op::Release { pick, wrap } => {
                let h = handles[pick % handles.len()].clone();
                let got = store.release(&h, Duration::from_secs(wrap)).await.unwrap();
                let want = match m.held(h.token.as_str()) {
                    Some(i) => {
                        let r = m.res.remove(i);
                        let now = m.now;
                        let a = m.agents.get_mut(&r.agent).unwrap();
                        a.last_released = Some(now);
                        if wrap > 0 {
                            let until = now + (wrap * 1000) as i64;
                            a.wrap_until = Some(a.wrap_until.map_or(until, |w| w.max(until)));
                        }
                        true
                    }
                    None => false,
                };
                assert_eq!(got, want, "{ctx}");
            }
            Op::SetStatus { agent, status } => {
                let got = store
                    .set_agent_status(&agent_id(agent), status)
                    .await
                    .unwrap();
                let want = match m.agents.get_mut(&agent) {
                    Some(a) => {
                        a.status = status;
                        true
                    }
                    None => false,
                };
                assert_eq!(got, want, "{ctx}");
            }
            Op::Advance { ms } => {
                clock.advance(Duration::from_millis(ms));
                m.now += ms as i64;
            }
            Op::MarkOnce { key, ttl } => {
                let got = store
                    .mark_once(&format!("mark-{key}"), Duration::from_secs(ttl))
                    .await
                    .unwrap();
                let live = m.marks.get(&key).is_some_and(|e| *e > m.now);
                if !live {
                    m.marks.insert(key, m.now + (ttl * 1000) as i64);
                }
                assert_eq!(got, !live, "{ctx}");
                assert!(store.check_mark(&format!("mark-{key}")).await.unwrap());
            }
            Op::PutIf { key, expected, ttl } => {
                let current = m
                    .docs
                    .get(&key)
                    .filter(|(_, e)| *e > m.now)
                    .map(|(v, _)| *v);
                let expected = match expected {
                    0 => None,
                    1 => current,
                    _ => m.versions_seen.iter().min().copied().or(Some(7)),
                };
                let got = store
                    .put_call_if(
                        &format!("doc-{key}"),
                        expected,
                        &json!({"step": step}),
                        Duration::from_secs(ttl),
                    )
                    .await
                    .unwrap();
                if current == expected {
                    let CasOutcome::Written { version } = got else {
                        panic!("{ctx}: expected a write, got {got:?}");
                    };
                    assert!(m.versions_seen.insert(version), "{ctx}: version reused");
                    m.docs.insert(key, (version, m.now + (ttl * 1000) as i64));
                } else {
                    assert_eq!(got, CasOutcome::Conflict { current }, "{ctx}");
                }
                let stored = store.get_call(&format!("doc-{key}")).await.unwrap();
                let want = m
                    .docs
                    .get(&key)
                    .filter(|(_, e)| *e > m.now)
                    .map(|(v, _)| *v);
                assert_eq!(stored.map(|v| v.version), want, "{ctx}");
            }
        }

        // Every agent's observable state matches the model.
        for i in 0..AGENTS {
            let got = store.get_agent(&agent_id(i)).await.unwrap();
            let Some(want) = m.agents.get(&i) else {
                assert!(got.is_none(), "{ctx}");
                continue;
            };
            let got = got.unwrap_or_else(|| panic!("{ctx}: agent {i} missing"));
            let live: Vec<&MRes> = m
                .res
                .iter()
                .filter(|r| r.agent == i && r.expires > m.now)
                .collect();
            let on_call = live.iter().filter(|r| r.on_call).count() as u32;
            assert_eq!(got.on_call, on_call, "{ctx}: agent {i} on_call");
            assert_eq!(
                got.reserved,
                live.len() as u32 - on_call,
                "{ctx}: agent {i} reserved"
            );
            assert_eq!(got.status, want.status, "{ctx}");
            assert_eq!(
                got.wrap_up_until,
                want.wrap_until.map(|w| at(base, w)),
                "{ctx}"
            );
            assert_eq!(
                got.last_released_at,
                want.last_released.map(|w| at(base, w)),
                "{ctx}"
            );
            assert_eq!(
                got.last_reserved_at,
                want.last_reserved.map(|w| at(base, w)),
                "{ctx}"
            );
            assert_eq!(
                got.is_reservable(),
                m.free(i),
                "{ctx}: agent {i} reservable"
            );
            let listed = store.reservations_for_agent(&agent_id(i)).await.unwrap();
            let mut want_tokens: Vec<&str> = live.iter().map(|r| r.token.as_str()).collect();
            want_tokens.sort_by_key(|t| t.parse::<u64>().unwrap_or(u64::MAX));
            let got_tokens: Vec<&str> = listed.iter().map(|r| r.token.as_str()).collect();
            assert_eq!(got_tokens, want_tokens, "{ctx}: agent {i} reservations");
        }
    }
}

fn reserve_model(
    m: &mut Model,
    base: OffsetDateTime,
    order: &[usize],
    call: usize,
    ttl: u64,
    got: Option<&Reservation>,
    ctx: &str,
) {
    let call = format!("call-{call}");
    let now = m.now;
    let ttl_ms = (ttl * 1000) as i64;
    // The call's existing reservation on a candidate comes back, extended.
    for a in order {
        if let Some(r) = m
            .res
            .iter_mut()
            .find(|r| r.agent == *a && r.call == call && r.expires > now)
        {
            r.expires = r.expires.max(now + ttl_ms);
            let got = got.unwrap_or_else(|| panic!("{ctx}: existing reservation not returned"));
            check_res(base, got, r);
            return;
        }
    }
    let Some(a) = order.iter().copied().find(|a| m.free(*a)) else {
        assert!(got.is_none(), "{ctx}: nothing free, got {got:?}");
        return;
    };
    let got = got.unwrap_or_else(|| panic!("{ctx}: agent {a} free but nothing reserved"));
    assert!(
        m.tokens_seen.insert(got.token.as_str().to_owned()),
        "{ctx}: token reused"
    );
    m.res.retain(|r| !(r.agent == a && r.expires <= now));
    let r = MRes {
        token: got.token.as_str().to_owned(),
        agent: a,
        call,
        created: now,
        expires: now + ttl_ms,
        on_call: false,
    };
    check_res(base, got, &r);
    m.res.push(r);
    m.agents.get_mut(&a).unwrap().last_reserved = Some(now);
}

fn renew_model(
    m: &mut Model,
    base: OffsetDateTime,
    h: &Reservation,
    ttl: u64,
    confirm: bool,
    got: Option<&Reservation>,
    ctx: &str,
) {
    let now = m.now;
    match m.held(h.token.as_str()) {
        Some(i) => {
            let r = &mut m.res[i];
            r.expires = r.expires.max(now + (ttl * 1000) as i64);
            r.on_call |= confirm;
            let got = got.unwrap_or_else(|| panic!("{ctx}: held reservation not renewed"));
            check_res(base, got, r);
        }
        None => assert!(got.is_none(), "{ctx}: lost reservation renewed: {got:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}
