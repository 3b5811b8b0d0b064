//! The engine: the simulated ACS world behind one lock, plus the timers that move it.
//!
//! Handlers (HTTP and in-process control) call engine methods; each takes the lock, changes
//! the world, queues the callbacks the change causes (in order, onto the call's delivery
//! queue, while still holding the lock — that is what keeps per-call order), records effects
//! and timeline entries, schedules follow-ups ([`Engine::after`]) and returns. Nothing awaits
//! while holding the lock. Timers re-check the world when they fire, so a timer for an
//! invitation that was cancelled, a media operation that was interrupted or a call that
//! ended does nothing.
//!
//! Lock order: `state` → `timelines` → `ledger`. The callback delivery tasks only take the
//! latter two.

pub(crate) mod control;
pub(crate) mod guard;
pub(crate) mod media;
pub(crate) mod model;
pub(crate) mod ops;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::{EventGridConfig, RetryPolicy, Timing};
use crate::eventgrid::Publisher;
use crate::faults::FaultEngine;
use crate::ids::IdGen;
use crate::jwt::CallbackSigner;
use crate::ledger::{Effect, Ledger, TimelineEntry, TimelineKind};
use crate::repeatability::RepeatabilityCache;
use crate::wire::{CallbackEvent, ResultInfo};

use model::{Outgoing, SimCall, State};

/// Settings fixed for the lifetime of an engine.
pub(crate) struct EngineConfig {
    pub api_versions: Vec<String>,
    pub participants_page_size: usize,
    pub event_grid: EventGridConfig,
    pub callback_retry: RetryPolicy,
    pub max_history: usize,
    pub max_retained_calls: usize,
    /// The ACS identity our leg uses when the call gives none (`8:acs:<resource>_<uuid>`).
    pub bot_id: String,
    pub base_url: String,
    /// Our ACS resource's immutable id (what a tenant's `AllowedAcsResources` lists).
    pub resource_id: String,
}

/// The simulator's world and machinery.
pub(crate) struct Engine {
    pub cfg: EngineConfig,
    timing: RwLock<Timing>,
    state: Mutex<State>,
    timelines: Mutex<HashMap<String, VecDeque<TimelineEntry>>>,
    ledger: Mutex<Ledger>,
    pub faults: FaultEngine,
    pub repeat: Arc<RepeatabilityCache>,
    pub signer: CallbackSigner,
    pub publisher: Publisher,
    pub http: reqwest::Client,
    started: Instant,
    seq: AtomicU64,
    pub shutdown: CancellationToken,
    events_tx: broadcast::Sender<TimelineEntry>,
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: EngineConfig,
        timing: Timing,
        ids: IdGen,
        faults: FaultEngine,
        repeat: Arc<RepeatabilityCache>,
        signer: CallbackSigner,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(256)
            .timeout(cfg.callback_retry.request_timeout)
            .build()
            .unwrap_or_default();
        let (events_tx, _) = broadcast::channel(4096);
        let max_history = cfg.max_history;
        Arc::new(Self {
            cfg,
            timing: RwLock::new(timing),
            state: Mutex::new(State::new(ids)),
            timelines: Mutex::new(HashMap::new()),
            ledger: Mutex::new(Ledger::default()),
            faults,
            repeat,
            signer,
            publisher: Publisher::new(max_history),
            http,
            started: Instant::now(),
            seq: AtomicU64::new(0),
            shutdown,
            events_tx,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // The world stays consistent across a panicking handler (each change is applied in
        // one step), so recover from poisoning rather than taking the simulator down.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn timing(&self) -> Timing {
        self.timing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_timing(&self, t: Timing) {
        *self.timing.write().unwrap_or_else(|e| e.into_inner()) = t;
    }

    /// A duration after `time_scale`.
    pub fn scaled(&self, d: Duration) -> Duration {
        self.timing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .scaled(d)
    }

    /// Run `f` after `delay` (already scaled), unless the simulator shuts down first.
    pub fn after(self: &Arc<Self>, delay: Duration, f: impl FnOnce(&Arc<Engine>) + Send + 'static) {
        let me = Arc::clone(self);
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.cancelled() => return,
                }
            } else if stop.is_cancelled() {
                return;
            }
            f(&me);
        });
    }

    /// Append to a call's timeline (and to the live event stream).
    pub fn note(
        &self,
        correlation_id: &str,
        call_connection_id: Option<&str>,
        kind: TimelineKind,
        what: impl Into<String>,
        detail: Value,
    ) {
        let entry = TimelineEntry {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            correlation_id: correlation_id.to_owned(),
            call_connection_id: call_connection_id.map(str::to_owned),
            kind,
            what: what.into(),
            detail,
        };
        {
            let mut tl = self.timelines.lock().unwrap_or_else(|e| e.into_inner());
            let list = tl.entry(correlation_id.to_owned()).or_default();
            if list.len() >= self.cfg.max_history {
                list.pop_front();
            }
            list.push_back(entry.clone());
        }
        // Nobody listening is fine.
        let _ = self.events_tx.send(entry);
    }

    /// Count a real side effect.
    pub fn effect(&self, call: &SimCall, e: Effect) {
        self.ledger_mut().record(
            &call.correlation_id,
            &call.server_call_id,
            call.connection_id(),
            e,
        );
    }

    pub fn ledger_mut(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn ledger(&self) -> Ledger {
        self.ledger_mut().clone()
    }

    /// Drop the timelines and per-call ledger entries of calls the state forgot.
    pub(crate) fn forget(&self, evicted: &[String]) {
        if evicted.is_empty() {
            return;
        }
        let mut tl = self.timelines.lock().unwrap_or_else(|e| e.into_inner());
        for c in evicted {
            tl.remove(c);
        }
        drop(tl);
        let mut ledger = self.ledger_mut();
        for c in evicted {
            ledger.calls.remove(c);
        }
    }

    pub fn timeline(&self, correlation_id: &str) -> Vec<TimelineEntry> {
        self.timelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(correlation_id)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<TimelineEntry> {
        self.events_tx.subscribe()
    }

    /// Forget every call, recording, repeatability id, ledger entry and timeline; keep the
    /// agents (back to idle) and numbers.
    pub fn reset(&self) {
        let mut st = self.lock();
        st.calls.clear();
        st.by_connection.clear();
        st.by_context.clear();
        st.by_server_call.clear();
        st.recordings.clear();
        st.order.clear();
        for a in st.agents.values_mut() {
            a.in_calls = 0;
            a.peak_in_calls = 0;
        }
        drop(st);
        self.timelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        *self.ledger_mut() = Ledger::default();
        self.repeat.clear();
        self.publisher.clear();
    }
}

/// Queue one callback of `call` (which must have a connection with an open queue).
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit(
    ids: &mut IdGen,
    call: &SimCall,
    kind: &'static str,
    fields: Map<String, Value>,
    operation_context: Option<&String>,
    result: ResultInfo,
    url_override: Option<&String>,
    source: Option<String>,
) {
    let Some(conn) = call.conn.as_ref() else {
        return;
    };
    let Some(tx) = conn.tx.as_ref() else { return };
    let Some(call_ids) = call.ids() else { return };
    let event = CallbackEvent {
        kind,
        id: ids.uuid(),
        time: time::OffsetDateTime::now_utc(),
        fields,
        operation_context: operation_context.cloned(),
        result,
        source,
    };
    let body = event.to_body(&call_ids);
    let url = url_override
        .cloned()
        .unwrap_or_else(|| conn.callback_uri.clone());
    // The receiver only goes away at shutdown; then there is nobody to deliver to anyway.
    let _ = tx.send(Outgoing {
        body,
        url,
        event_type: kind,
        event_id: event.id,
        correlation_id: call.correlation_id.clone(),
        call_connection_id: conn.id.clone(),
    });
}

/// Queue `ParticipantsUpdated` with the next sequence number.
pub(crate) fn emit_participants(ids: &mut IdGen, call: &mut SimCall) {
    let Some(conn) = call.conn.as_mut() else {
        return;
    };
    conn.sequence += 1;
    let participants: Vec<Value> = conn.participants.iter().map(|p| p.wire()).collect();
    let mut fields = Map::new();
    fields.insert("participants".into(), Value::Array(participants));
    fields.insert("sequenceNumber".into(), json!(conn.sequence));
    emit(
        ids,
        call,
        "ParticipantsUpdated",
        fields,
        None,
        ResultInfo::ok(),
        None,
        None,
    );
}

/// `data` fields helper.
pub(crate) fn fields(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
