//! Fault injection: what goes wrong, where, and how often.
//!
//! Faults are data ([`Faults`]) that can be replaced at runtime. Request faults apply to a
//! named operation — the spec's `operationId` (`CallConnection_AddParticipant`, `AnswerCall`,
//! …) or a Graph operation (`Graph_SearchUsers`, `Graph_GetPresence`,
//! `Graph_GetPresencesByUserId`, `Graph_GetUser`) — after the global spec. Callback faults
//! apply to every callback POST; Event Grid faults to every `IncomingCall` delivery.
//!
//! All dice come from one RNG seeded by `SimConfig::random_seed`, so a sequential test sees
//! the same faults on every run. Rules with `times` fire that many times and then stop, which
//! makes "the first attempt fails, the retry succeeds" scripts exact.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// All faults currently configured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Faults {
    /// Applies to every Call Automation and Graph operation.
    pub global: FaultSpec,
    /// Per operation id; evaluated after `global`.
    pub operations: BTreeMap<String, FaultSpec>,
    /// Applies to every callback POST to the worker.
    pub callbacks: CallbackFaults,
    /// Applies to every `IncomingCall` handed to the Event Grid sink.
    pub event_grid: EventGridFaults,
}

/// Faults of one scope.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FaultSpec {
    /// Added before the request is handled.
    pub latency: Option<Latency>,
    /// Evaluated in order; the first rule that fires answers the request.
    pub rules: Vec<FaultRule>,
}

/// Added latency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Latency {
    /// The same delay every time.
    Fixed {
        /// Milliseconds, not scaled by [`Timing`](crate::Timing).
        #[serde(rename = "ms")]
        ms: u64,
    },
    /// Uniform in `[minMs, maxMs]`, drawn from the seeded dice.
    #[serde(rename_all = "camelCase")]
    Random {
        /// Shortest delay in milliseconds (swapped with `max_ms` if larger).
        min_ms: u64,
        /// Longest delay in milliseconds, inclusive.
        max_ms: u64,
    },
}

/// One way to fail a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// What the request gets instead of being handled (flattened: `{"kind": "status", …}`).
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Chance the rule fires per request, 0.0–1.0.
    #[serde(default = "one")]
    pub probability: f64,
    /// Fire at most this many more times; `None` = unlimited.
    #[serde(default)]
    pub times: Option<u32>,
}

fn one() -> f64 {
    1.0
}

impl FaultRule {
    /// Always fire (probability 1, unlimited).
    pub fn always(kind: FaultKind) -> Self {
        Self {
            kind,
            probability: 1.0,
            times: None,
        }
    }

    /// Fire exactly the next `n` times.
    pub fn times(kind: FaultKind, n: u32) -> Self {
        Self {
            kind,
            probability: 1.0,
            times: Some(n),
        }
    }
}

/// The failure a rule produces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum FaultKind {
    /// 429 with `Retry-After: <retryAfterSecs>`.
    #[serde(rename_all = "camelCase")]
    Throttle {
        /// Seconds in the `Retry-After` header.
        retry_after_secs: u32,
    },
    /// An error status (500, 502, 503, 504, …) with the surface's error body.
    Status {
        /// 400–599; anything else is refused when the faults are set.
        status: u16,
    },
    /// Close the connection without answering (the client sees a reset).
    Reset,
    /// Answer with exactly this response, after an optional delay: error bodies with a
    /// particular service code, headers such as `Retry-After-Ms`, a gateway that hangs past
    /// the client's timeout, or a response that breaks the contract (to test the client).
    Respond(CannedResponse),
    /// The request is handled — its effect happens, and a repeatable request's result is
    /// kept for replay — but the answer is lost on the way back: the client sees a reset, an
    /// error status, or nothing until it times out (ADR 0011).
    #[serde(rename_all = "camelCase")]
    Lost {
        /// What the client sees instead of the real answer.
        answer: LostAnswer,
        /// The status for [`LostAnswer::Status`] (500–599; default 500).
        #[serde(default)]
        status: Option<u16>,
        /// For [`LostAnswer::Timeout`]: how long the answer is held before the connection
        /// is closed, in milliseconds (default 60 000, past any client's timeout).
        #[serde(default)]
        hang_ms: Option<u64>,
    },
}

/// How the answer of a [`FaultKind::Lost`] request goes missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LostAnswer {
    /// The connection is reset after the effect.
    Reset,
    /// A gateway answers an error status after the effect.
    Status,
    /// The answer never comes; the connection closes after `hangMs`.
    Timeout,
}

/// A response given verbatim by a [`FaultKind::Respond`] rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CannedResponse {
    /// Any status, 100–599 (a 2xx the operation does not document is allowed on purpose).
    pub status: u16,
    /// Extra response headers; a `content-type` here replaces the JSON one.
    pub headers: BTreeMap<String, String>,
    /// JSON body; `None` sends an empty body.
    pub body: Option<serde_json::Value>,
    /// Wait this long before answering, in milliseconds.
    pub delay_ms: u64,
}

impl CannedResponse {
    /// `status` with an empty body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }

    /// `status` with a JSON body.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            body: Some(body),
            ..Self::default()
        }
    }

    /// The Call Automation error shape, `{"error":{"code","message"}}`.
    pub fn acs_error(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            serde_json::json!({"error": {"code": code, "message": message}}),
        )
    }

    /// Add a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Answer only after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self
    }
}

/// Callback delivery faults (probabilities per callback).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CallbackFaults {
    /// Never deliver the callback.
    pub drop: f64,
    /// Deliver it twice.
    pub duplicate: f64,
    /// Deliver it after the next callback of the same call.
    pub reorder: f64,
    /// Wait before each POST.
    pub latency: Option<Latency>,
    /// A simulated backlog: every callback's `time` is this many seconds older than its
    /// delivery, as if it had waited that long (a queue outage, a scale-from-zero) — without
    /// the wait. Not a probability: it applies to every callback.
    pub backlog_secs: u64,
}

/// IncomingCall delivery faults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EventGridFaults {
    /// Deliver the same message (same message id) a second time.
    pub duplicate: f64,
    /// Never deliver it.
    pub drop: f64,
    /// A simulated backlog: every `IncomingCall`'s `eventTime` is this many seconds older
    /// than its delivery (see [`CallbackFaults::backlog_secs`]).
    pub backlog_secs: u64,
}

/// What the request pipeline must do instead of handling the request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RequestFault {
    /// Answer 429 with `Retry-After`.
    Throttle { retry_after_secs: u32 },
    /// Answer this error status with the surface's error body.
    Status(u16),
    /// Close the connection unanswered.
    Reset,
    /// Answer exactly this (status, headers, body), after its delay.
    Respond(CannedResponse),
    /// Handle the request, then lose the answer this way.
    Lost(Lost),
}

/// A lost answer, resolved from [`FaultKind::Lost`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lost {
    /// Reset the connection.
    Reset,
    /// Answer this error status.
    Status(u16),
    /// Hold the answer this long, then reset.
    Timeout(Duration),
}

/// The dice for one callback, thrown just before it is posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct CallbackDecision {
    pub drop: bool,
    pub duplicate: bool,
    pub reorder: bool,
    pub latency: Option<Duration>,
    pub backlog: Duration,
}

/// Faults plus the dice. Shared by the whole simulator.
pub(crate) struct FaultEngine {
    inner: Mutex<Inner>,
}

struct Inner {
    faults: Faults,
    rng: StdRng,
}

impl FaultEngine {
    /// The dice are seeded with `seed`, so a sequential run repeats its faults exactly.
    pub fn new(faults: Faults, seed: u64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                faults,
                rng: StdRng::seed_from_u64(seed),
            }),
        }
    }

    /// Replace every fault.
    pub fn set(&self, faults: Faults) {
        lock(&self.inner).faults = faults;
    }

    /// The current faults (with remaining `times`).
    pub fn get(&self) -> Faults {
        lock(&self.inner).faults.clone()
    }

    /// Latency to add and the failure (if any) for a request to `operation`.
    pub fn on_request(&self, operation: &str) -> (Option<Duration>, Option<RequestFault>) {
        let mut guard = lock(&self.inner);
        let Inner { faults, rng } = &mut *guard;
        let mut latency = None;
        let mut outcome = None;
        let specs = std::iter::once(&mut faults.global).chain(faults.operations.get_mut(operation));
        for spec in specs {
            if let Some(l) = &spec.latency {
                let d = sample_latency(l, rng);
                latency = Some(latency.unwrap_or(Duration::ZERO) + d);
            }
            if outcome.is_none() {
                outcome = roll_rules(&mut spec.rules, rng);
            }
        }
        (latency, outcome)
    }

    /// Dice for one callback POST.
    pub fn on_callback(&self) -> CallbackDecision {
        let mut guard = lock(&self.inner);
        let Inner { faults, rng } = &mut *guard;
        let cb = &faults.callbacks;
        let backlog = Duration::from_secs(cb.backlog_secs);
        if cb.drop <= 0.0 && cb.duplicate <= 0.0 && cb.reorder <= 0.0 && cb.latency.is_none() {
            return CallbackDecision {
                backlog,
                ..CallbackDecision::default()
            };
        }
        CallbackDecision {
            drop: chance(cb.drop, rng),
            duplicate: chance(cb.duplicate, rng),
            reorder: chance(cb.reorder, rng),
            latency: cb.latency.as_ref().map(|l| sample_latency(l, rng)),
            backlog,
        }
    }

    /// How much older than its delivery an `IncomingCall` is made to look.
    pub fn event_grid_backlog(&self) -> Duration {
        Duration::from_secs(lock(&self.inner).faults.event_grid.backlog_secs)
    }

    /// Dice for one Event Grid delivery: (drop, duplicate).
    pub fn on_event_grid(&self) -> (bool, bool) {
        let mut guard = lock(&self.inner);
        let Inner { faults, rng } = &mut *guard;
        let eg = &faults.event_grid;
        if eg.drop <= 0.0 && eg.duplicate <= 0.0 {
            return (false, false);
        }
        (chance(eg.drop, rng), chance(eg.duplicate, rng))
    }
}

fn roll_rules(rules: &mut [FaultRule], rng: &mut StdRng) -> Option<RequestFault> {
    for rule in rules.iter_mut() {
        if rule.times == Some(0) {
            continue;
        }
        if !chance(rule.probability, rng) {
            continue;
        }
        if let Some(t) = rule.times.as_mut() {
            *t -= 1;
        }
        return Some(match &rule.kind {
            FaultKind::Throttle { retry_after_secs } => RequestFault::Throttle {
                retry_after_secs: *retry_after_secs,
            },
            FaultKind::Status { status } => RequestFault::Status(*status),
            FaultKind::Reset => RequestFault::Reset,
            FaultKind::Respond(r) => RequestFault::Respond(r.clone()),
            FaultKind::Lost {
                answer,
                status,
                hang_ms,
            } => RequestFault::Lost(match answer {
                LostAnswer::Reset => Lost::Reset,
                LostAnswer::Status => Lost::Status(status.unwrap_or(500)),
                LostAnswer::Timeout => {
                    Lost::Timeout(Duration::from_millis(hang_ms.unwrap_or(60_000)))
                }
            }),
        });
    }
    None
}

fn chance(p: f64, rng: &mut StdRng) -> bool {
    // NaN and non-positive probabilities never fire.
    if p.is_nan() || p <= 0.0 {
        return false;
    }
    if p >= 1.0 {
        return true;
    }
    rng.random::<f64>() < p
}

fn sample_latency(l: &Latency, rng: &mut StdRng) -> Duration {
    match *l {
        Latency::Fixed { ms } => Duration::from_millis(ms),
        Latency::Random { min_ms, max_ms } => {
            let (lo, hi) = if min_ms <= max_ms {
                (min_ms, max_ms)
            } else {
                (max_ms, min_ms)
            };
            Duration::from_millis(rng.random_range(lo..=hi))
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the faults half-updated in a way that
    // matters, so recover the guard instead of poisoning the simulator.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reject fault settings that make no sense (probabilities outside 0–1, odd statuses).
pub(crate) fn check_faults(f: &Faults) -> Result<(), SimError> {
    let prob = |p: f64, what: &str| {
        if (0.0..=1.0).contains(&p) {
            Ok(())
        } else {
            Err(SimError::Invalid(format!(
                "{what} must be a probability between 0 and 1, got {p}"
            )))
        }
    };
    for (name, spec) in std::iter::once(("global", &f.global))
        .chain(f.operations.iter().map(|(k, v)| (k.as_str(), v)))
    {
        for r in &spec.rules {
            prob(r.probability, &format!("{name}: rule probability"))?;
            if let FaultKind::Status { status } = r.kind {
                if !(400..=599).contains(&status) {
                    return Err(SimError::Invalid(format!(
                        "{name}: fault status {status} is not an error status"
                    )));
                }
            }
            if let FaultKind::Lost {
                status: Some(status),
                ..
            } = r.kind
            {
                // The answer is lost after the effect: only a server or gateway error says so.
                if !(500..=599).contains(&status) {
                    return Err(SimError::Invalid(format!(
                        "{name}: a lost answer's status {status} must be 500-599"
                    )));
                }
            }
            if let FaultKind::Respond(c) = &r.kind {
                if !(100..=599).contains(&c.status) {
                    return Err(SimError::Invalid(format!(
                        "{name}: response status {} is not an HTTP status",
                        c.status
                    )));
                }
                for (k, v) in &c.headers {
                    if axum::http::HeaderName::from_bytes(k.as_bytes()).is_err()
                        || axum::http::HeaderValue::from_str(v).is_err()
                    {
                        return Err(SimError::Invalid(format!(
                            "{name}: response header {k:?} is not a valid header"
                        )));
                    }
                }
            }
        }
    }
    prob(f.callbacks.drop, "callbacks.drop")?;
    prob(f.callbacks.duplicate, "callbacks.duplicate")?;
    prob(f.callbacks.reorder, "callbacks.reorder")?;
    prob(f.event_grid.drop, "eventGrid.drop")?;
    prob(f.event_grid.duplicate, "eventGrid.duplicate")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_limits_firing_and_global_comes_first() {
        let mut faults = Faults::default();
        faults.operations.insert(
            "AnswerCall".into(),
            FaultSpec {
                latency: Some(Latency::Fixed { ms: 5 }),
                rules: vec![FaultRule::times(FaultKind::Status { status: 503 }, 2)],
            },
        );
        let fe = FaultEngine::new(faults, 1);
        assert_eq!(
            fe.on_request("AnswerCall"),
            (
                Some(Duration::from_millis(5)),
                Some(RequestFault::Status(503))
            )
        );
        assert_eq!(
            fe.on_request("AnswerCall").1,
            Some(RequestFault::Status(503))
        );
        assert_eq!(fe.on_request("AnswerCall").1, None);
        assert_eq!(fe.on_request("CreateCall"), (None, None));
        // Remaining count is visible.
        assert_eq!(fe.get().operations["AnswerCall"].rules[0].times, Some(0));

        fe.set(Faults {
            global: FaultSpec {
                latency: None,
                rules: vec![FaultRule::always(FaultKind::Reset)],
            },
            ..Faults::default()
        });
        assert_eq!(fe.on_request("anything").1, Some(RequestFault::Reset));
    }

    #[test]
    fn seeded_dice_repeat() {
        let faults = Faults {
            callbacks: CallbackFaults {
                drop: 0.3,
                duplicate: 0.3,
                reorder: 0.3,
                latency: Some(Latency::Random {
                    min_ms: 1,
                    max_ms: 50,
                }),
                backlog_secs: 0,
            },
            ..Faults::default()
        };
        let a = FaultEngine::new(faults.clone(), 42);
        let b = FaultEngine::new(faults, 42);
        let sa: Vec<_> = (0..50).map(|_| a.on_callback()).collect();
        let sb: Vec<_> = (0..50).map(|_| b.on_callback()).collect();
        assert_eq!(sa, sb);
        assert!(sa.iter().any(|d| d.drop) && sa.iter().any(|d| !d.drop));
    }

    #[test]
    fn json_shape() {
        let text = r#"{
          "global": {"latency": {"type": "random", "minMs": 1, "maxMs": 3}},
          "operations": {"CallConnection_AddParticipant": {"rules": [
              {"kind": "throttle", "retryAfterSecs": 2, "times": 1},
              {"kind": "status", "status": 500, "probability": 0.5},
              {"kind": "reset"}]}},
          "callbacks": {"duplicate": 1.0},
          "eventGrid": {"duplicate": 0.5}
        }"#;
        let f: Faults = serde_json::from_str(text).unwrap();
        let rules = &f.operations["CallConnection_AddParticipant"].rules;
        assert_eq!(
            rules[0].kind,
            FaultKind::Throttle {
                retry_after_secs: 2
            }
        );
        assert_eq!(rules[0].times, Some(1));
        assert_eq!(rules[1].probability, 0.5);
        assert_eq!(rules[2].kind, FaultKind::Reset);
        assert_eq!(f.callbacks.duplicate, 1.0);
        let back: Faults = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }
}
