//! The caller's and the operator's side: start customer calls (IncomingCall through Event
//! Grid), press keys, hang up; manage agents and numbers; read call snapshots.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use serde_json::json;
use switchboard_events::CommunicationIdentifier;

use super::model::{Agent, ConnState, InvitationState, MediaOp, Party, Phase, SimCall, State};
use super::{emit_participants, Engine};
use crate::config::{AgentSpec, Behaviour, NumberSpec, PresenceSpec, Seed, StartCall};
use crate::error::SimError;
use crate::eventgrid::{incoming_call_message, IncomingCallData, SinkMessage};
use crate::faults::check_faults;
use crate::ledger::TimelineKind;
use crate::wire::codes;

/// What `start_call` returns: the ids a test needs to follow the call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallHandle {
    /// The call's `correlationId`: the key for [`SimHandle::call`](crate::SimHandle::call),
    /// the ledger and the timeline.
    pub correlation_id: String,
    /// The call's `serverCallId`.
    pub server_call_id: String,
    /// The opaque `incomingCallContext` the worker must pass to answer, reject or redirect.
    pub incoming_call_context: String,
    /// Id of the IncomingCall event (= the Service Bus message id).
    pub event_id: String,
    /// The caller's raw id (`4:+1…` for a phone number).
    pub from: String,
    /// The dialed number's raw id.
    pub to: String,
}

/// A participant in a [`CallSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantSnapshot {
    /// The participant's raw id (`4:+1…`, `8:orgid:<oid>`, `8:acs:…`).
    pub raw_id: String,
    /// The identifier kind in the contract's spelling (`phoneNumber`,
    /// `microsoftTeamsUser`, `communicationUser`, …).
    pub kind: String,
    /// Muted through `Mute`.
    pub is_muted: bool,
    /// Put on hold through `Hold` (until `Unhold`).
    pub is_on_hold: bool,
    /// Our own leg: the Call Automation application, not a person.
    pub is_bot: bool,
}

/// An invitation in a [`CallSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitationSnapshot {
    /// The id `AddParticipant` returned, which `CancelAddParticipant` names.
    pub invitation_id: String,
    /// Raw id of the invited participant.
    pub target: String,
    /// Where the invitation stands; invitations stay listed after they end.
    pub state: InvitationState,
}

/// The state of one simulated call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallSnapshot {
    /// The call's `correlationId`.
    pub correlation_id: String,
    /// The call's `serverCallId`.
    pub server_call_id: String,
    /// Our call connection; `None` until the call is answered or created.
    pub call_connection_id: Option<String>,
    /// Where the customer call as a whole stands.
    pub phase: Phase,
    /// State of our call connection; `None` when there is none.
    pub state: Option<ConnState>,
    /// The caller's raw id.
    pub caller: String,
    /// The dialed number's (or call target's) raw id.
    pub to: String,
    /// Who is in our call connection now, our own leg included; empty without one.
    pub participants: Vec<ParticipantSnapshot>,
    /// `sequenceNumber` of the last `ParticipantsUpdated` sent (0: none yet).
    pub sequence_number: u32,
    /// Every invitation of the connection, ringing or ended.
    pub invitations: Vec<InvitationSnapshot>,
    /// The running media operation: `play` or `recognize`; `None` when idle.
    pub media: Option<String>,
    /// Media operations waiting behind the running one.
    pub queued_media: usize,
    /// The connection's recording, if one was started.
    pub recording_id: Option<String>,
    /// Tones the caller pressed that no recognize has consumed yet.
    pub pending_dtmf: String,
    /// Agents talking to the caller outside our leg (after a transfer or redirect); the
    /// call is not over until they hang up.
    pub agents_on_direct_leg: Vec<String>,
    /// Id of the IncomingCall event (customer calls).
    pub incoming_call_event_id: Option<String>,
}

/// An agent with its live presence.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSnapshot {
    /// The agent as configured (flattened into the JSON).
    #[serde(flatten)]
    pub spec: AgentSpec,
    /// Simulated calls the agent is in now.
    pub in_calls: u32,
    /// The most calls the agent was in at once since the simulator started (or was reset).
    pub peak_in_calls: u32,
    /// What Graph serves now: `Busy` while in a call, else the configured availability.
    pub availability: String,
    /// What Graph serves now: `InACall` while in a call, else the configured activity.
    pub activity: String,
}

fn snapshot(call: &SimCall) -> CallSnapshot {
    let conn = call.conn.as_ref();
    CallSnapshot {
        correlation_id: call.correlation_id.clone(),
        server_call_id: call.server_call_id.clone(),
        call_connection_id: conn.map(|c| c.id.clone()),
        phase: call.phase,
        state: conn.map(|c| c.state),
        caller: call.caller.raw.clone(),
        to: call.to.raw.clone(),
        participants: conn
            .map(|c| {
                c.participants
                    .iter()
                    .map(|p| ParticipantSnapshot {
                        raw_id: p.party.raw.clone(),
                        kind: p.party.id.kind().to_owned(),
                        is_muted: p.muted,
                        is_on_hold: p.on_hold,
                        is_bot: p.is_bot,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        sequence_number: conn.map(|c| c.sequence).unwrap_or(0),
        invitations: conn
            .map(|c| {
                c.invitations
                    .values()
                    .map(|i| InvitationSnapshot {
                        invitation_id: i.id.clone(),
                        target: i.target.raw.clone(),
                        state: i.state,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        media: conn
            .and_then(|c| c.media.active.as_ref())
            .map(|a| match a.op {
                MediaOp::Play(_) => "play".to_owned(),
                MediaOp::Recognize(_) => "recognize".to_owned(),
            }),
        queued_media: conn.map(|c| c.media.queue.len()).unwrap_or(0),
        recording_id: conn.and_then(|c| c.recording.clone()),
        pending_dtmf: call.dtmf.iter().collect(),
        agents_on_direct_leg: call
            .external_agents
            .iter()
            .map(|(a, _)| a.clone())
            .collect(),
        incoming_call_event_id: call.incoming_event_id.clone(),
    }
}

/// Parse a caller/number given as E.164 or a raw id.
fn party_from(s: &str) -> Result<Party, SimError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(SimError::Invalid("empty identity".into()));
    }
    let id = if s.starts_with('+') {
        let e164 = switchboard_events::normalize_e164(s)
            .ok_or_else(|| SimError::Invalid(format!("{s:?} is not an E.164 number")))?;
        CommunicationIdentifier::phone(e164)
    } else {
        let id = CommunicationIdentifier::from_raw_id(s);
        if matches!(id, CommunicationIdentifier::Unknown { .. }) {
            return Err(SimError::Invalid(format!(
                "{s:?} is neither an E.164 number nor a known raw id"
            )));
        }
        id
    };
    Ok(Party::new(id))
}

/// Keys the caller can press.
pub(crate) fn parse_digits(digits: &str) -> Result<Vec<char>, SimError> {
    digits
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| {
            let k = c.to_ascii_lowercase();
            if crate::wire::tone_name(k).is_some() {
                Ok(k)
            } else {
                Err(SimError::Invalid(format!(
                    "{c:?} is not a DTMF key (0-9, *, #, A-D)"
                )))
            }
        })
        .collect()
}

impl Engine {
    /// Place a customer call: publish `IncomingCall` and start ringing.
    pub fn start_call(self: &Arc<Self>, req: StartCall) -> Result<CallHandle, SimError> {
        let dtmf = match &req.dtmf {
            Some(d) => parse_digits(d)?,
            None => Vec::new(),
        };
        let timing = self.timing();
        let ring = timing.scaled(timing.ringing_timeout);
        let mut guard = self.lock();
        let st = &mut *guard;
        let to_key = match &req.to {
            Some(t) => number_key(t),
            None => st.numbers.keys().next().cloned().ok_or_else(|| {
                SimError::Invalid("no numbers are configured; add one first".into())
            })?,
        };
        let number =
            st.numbers.get(&to_key).cloned().ok_or_else(|| {
                SimError::Invalid(format!("{to_key:?} is not a configured number"))
            })?;
        let to = party_from(&number.number)?;
        let caller = match &req.from {
            Some(f) => party_from(f)?,
            None => {
                let n = st.ids.caller_number();
                party_from(&n)?
            }
        };
        let correlation_id = st.ids.uuid();
        let server_call_id = st.ids.server_call_id();
        let event_id = st.ids.uuid();
        let context = incoming_context(&mut st.ids, &correlation_id, &server_call_id);
        let call = SimCall {
            correlation_id: correlation_id.clone(),
            server_call_id: server_call_id.clone(),
            caller: caller.clone(),
            to: to.clone(),
            phase: Phase::Ringing,
            incoming_context: Some(context.clone()),
            incoming_event_id: Some(event_id.clone()),
            ring_deadline: Some(std::time::Instant::now() + ring),
            conn: None,
            dtmf: dtmf.into_iter().collect(),
            hang_up_after: req.hang_up_after,
            external_agents: Vec::new(),
        };
        st.by_context
            .insert(context.clone(), correlation_id.clone());
        st.by_server_call
            .insert(server_call_id.clone(), correlation_id.clone());
        let evicted = st.insert_call(call, self.cfg.max_retained_calls);
        drop(guard);
        self.forget(&evicted);

        let data = IncomingCallData {
            to: to.wire(),
            from: caller.wire(),
            to_raw_id: to.raw.clone(),
            from_raw_id: caller.raw.clone(),
            server_call_id: server_call_id.clone(),
            caller_display_name: req.caller_display_name.clone().unwrap_or_default(),
            sip_headers: req.sip_headers.clone(),
            voip_headers: req.voip_headers.clone(),
            incoming_call_context: context.clone(),
            correlation_id: correlation_id.clone(),
        };
        let eg = &self.cfg.event_grid;
        let msg = incoming_call_message(
            req.schema.unwrap_or(eg.schema),
            &event_id,
            &eg.topic,
            &eg.subscription_name,
            // A simulated backlog makes the event look raised that long ago (ADR 0011).
            time::OffsetDateTime::now_utc() - self.faults.event_grid_backlog(),
            &data,
        );
        self.note(
            &correlation_id,
            None,
            TimelineKind::Caller,
            "dialled",
            json!({"from": caller.raw, "to": to.raw, "number": number.display_name}),
        );
        self.publish(msg, req.duplicate_delivery, &correlation_id);
        let c = correlation_id.clone();
        self.after(ring, move |e| e.ring_timeout(&c));
        Ok(CallHandle {
            correlation_id,
            server_call_id,
            incoming_call_context: context,
            event_id,
            from: caller.raw,
            to: to.raw,
        })
    }

    fn ring_timeout(self: &Arc<Self>, corr: &str) {
        let mut guard = self.lock();
        let Some(call) = guard.calls.get_mut(corr) else {
            return;
        };
        if call.phase != Phase::Ringing {
            return;
        }
        call.phase = Phase::Expired;
        drop(guard);
        self.note(
            corr,
            None,
            TimelineKind::Caller,
            "ringing timed out",
            json!({}),
        );
    }

    /// Hand an IncomingCall to the sink, with Event Grid's retries and optional duplicate.
    fn publish(self: &Arc<Self>, msg: SinkMessage, force_duplicate: bool, corr: &str) {
        self.publisher.record(&msg);
        let (drop_it, dup) = self.faults.on_event_grid();
        if drop_it {
            self.note(
                corr,
                None,
                TimelineKind::EventGrid,
                "IncomingCall",
                json!({"outcome": "dropped (fault)", "messageId": msg.message_id}),
            );
            return;
        }
        let copies = if dup || force_duplicate { 2 } else { 1 };
        let me = Arc::clone(self);
        let corr = corr.to_owned();
        tokio::spawn(async move {
            // Deliveries of one message are sequential: the duplicate is a redelivery.
            let mut count = 0u32;
            for copy in 0..copies {
                count = me.deliver_event(&msg, count, &corr, copy > 0).await;
            }
        });
    }

    /// Deliver one copy with retries; returns the delivery count after it.
    async fn deliver_event(
        self: &Arc<Self>,
        msg: &SinkMessage,
        mut count: u32,
        corr: &str,
        duplicate: bool,
    ) -> u32 {
        let policy = self.cfg.event_grid.retry.clone();
        let attempts = policy.max_attempts.max(1);
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::select! {
                    _ = tokio::time::sleep(policy.backoff(attempt)) => {}
                    _ = self.shutdown.cancelled() => return count,
                }
            }
            let Some(sink) = self.publisher.sink() else {
                self.note(
                    corr,
                    None,
                    TimelineKind::EventGrid,
                    "IncomingCall",
                    json!({"outcome": "no sink (kept in the outbox)", "messageId": msg.message_id}),
                );
                return count;
            };
            let mut m = msg.clone();
            m.delivery_attempt = count + 1;
            m.application_properties
                .insert("aeg-delivery-count".into(), count.to_string());
            count += 1;
            match sink.deliver(m).await {
                Ok(()) => {
                    self.ledger_mut().incoming_calls_delivered += 1;
                    self.note(corr, None, TimelineKind::EventGrid, "IncomingCall", json!({"outcome": if duplicate { "delivered again (duplicate)" } else { "delivered" }, "messageId": msg.message_id, "attempt": attempt}));
                    return count;
                }
                Err(e) if e.is_retryable() => {
                    tracing::debug!(error = %e, attempt, "event grid delivery failed");
                }
                Err(e) => {
                    self.note(
                        corr,
                        None,
                        TimelineKind::EventGrid,
                        "IncomingCall",
                        json!({"outcome": "failed", "error": e.to_string()}),
                    );
                    return count;
                }
            }
        }
        self.note(
            corr,
            None,
            TimelineKind::EventGrid,
            "IncomingCall",
            json!({"outcome": "failed after retries", "messageId": msg.message_id}),
        );
        count
    }

    /// The caller presses keys.
    pub fn press_digits(self: &Arc<Self>, call: &str, digits: &str) -> Result<(), SimError> {
        let keys = parse_digits(digits)?;
        if keys.is_empty() {
            return Err(SimError::Invalid("no digits given".into()));
        }
        let corr = self
            .lock()
            .resolve(call)
            .ok_or_else(|| SimError::UnknownCall(call.to_owned()))?;
        self.caller_pressed(&corr, &keys)
    }

    /// The caller hangs up.
    pub fn hang_up_caller(self: &Arc<Self>, call: &str) -> Result<(), SimError> {
        let mut guard = self.lock();
        let corr = guard
            .resolve(call)
            .ok_or_else(|| SimError::UnknownCall(call.to_owned()))?;
        let State {
            ids, calls, agents, ..
        } = &mut *guard;
        let call = calls
            .get_mut(&corr)
            .ok_or_else(|| SimError::UnknownCall(corr.clone()))?;
        // Agents talking to the caller directly (after a transfer) are done too.
        for (agent, _) in call.external_agents.drain(..) {
            if let Some(a) = agents.get_mut(&agent) {
                a.in_calls = a.in_calls.saturating_sub(1);
            }
        }
        let mut what = "hung up";
        match call.phase {
            Phase::Ringing => {
                call.phase = Phase::Abandoned;
                what = "hung up while ringing";
            }
            Phase::Answered | Phase::Outbound => {
                let caller_raw = call.customer().raw.clone();
                if let Some(conn) = call
                    .conn
                    .as_mut()
                    .filter(|c| c.state != ConnState::Disconnected)
                {
                    if let Some(pos) = conn.find(&caller_raw) {
                        let gone = conn.participants.remove(pos);
                        if let Some(a) = gone.agent.as_ref().and_then(|a| agents.get_mut(a)) {
                            a.in_calls = a.in_calls.saturating_sub(1);
                        }
                        if conn.humans() == 0 {
                            self.end_connection(
                                ids,
                                call,
                                agents,
                                codes::conversation_ended(),
                                false,
                            );
                        } else {
                            emit_participants(ids, call);
                        }
                    } else if conn.state == ConnState::Connecting {
                        self.end_connection(ids, call, agents, codes::conversation_ended(), false);
                    }
                }
            }
            _ => {}
        }
        let ccid = call.connection_id().map(str::to_owned);
        drop(guard);
        self.note(
            &corr,
            ccid.as_deref(),
            TimelineKind::Caller,
            what,
            json!({}),
        );
        Ok(())
    }

    /// Add or replace agents.
    pub fn upsert_agents(&self, specs: Vec<AgentSpec>) -> Result<(), SimError> {
        for s in &specs {
            if s.id.trim().is_empty() {
                return Err(SimError::Invalid("agent id must not be empty".into()));
            }
        }
        let mut st = self.lock();
        for spec in specs {
            match st.agents.get_mut(&spec.id) {
                Some(a) => a.spec = spec,
                None => {
                    st.agents.insert(spec.id.clone(), Agent::new(spec));
                }
            }
        }
        Ok(())
    }

    pub fn set_behaviour(&self, agent: &str, behaviour: Behaviour) -> Result<(), SimError> {
        let mut st = self.lock();
        let a = st
            .agents
            .get_mut(agent)
            .ok_or_else(|| SimError::UnknownAgent(agent.to_owned()))?;
        a.spec.behaviour = behaviour;
        Ok(())
    }

    pub fn set_presence(&self, agent: &str, presence: PresenceSpec) -> Result<(), SimError> {
        let mut st = self.lock();
        let a = st
            .agents
            .get_mut(agent)
            .ok_or_else(|| SimError::UnknownAgent(agent.to_owned()))?;
        a.spec.presence = presence;
        Ok(())
    }

    pub fn set_talk_time(
        &self,
        agent: &str,
        talk_time: Option<std::time::Duration>,
    ) -> Result<(), SimError> {
        let mut st = self.lock();
        let a = st
            .agents
            .get_mut(agent)
            .ok_or_else(|| SimError::UnknownAgent(agent.to_owned()))?;
        a.spec.talk_time = talk_time;
        Ok(())
    }

    pub fn remove_agent(&self, agent: &str) -> Result<(), SimError> {
        self.lock()
            .agents
            .remove(agent)
            .map(|_| ())
            .ok_or_else(|| SimError::UnknownAgent(agent.to_owned()))
    }

    pub fn agents(&self) -> Vec<AgentSnapshot> {
        self.lock().agents.values().map(agent_snapshot).collect()
    }

    /// Presence (availability, activity) of each id, under one lock; `None` for unknown ids.
    pub fn presences(&self, ids: &[&str]) -> Vec<Option<(String, String)>> {
        let st = self.lock();
        ids.iter()
            .map(|id| st.agents.get(*id).map(Agent::presence))
            .collect()
    }

    pub fn agent(&self, id: &str) -> Option<AgentSnapshot> {
        self.lock().agents.get(id).map(agent_snapshot)
    }

    pub fn add_numbers(&self, numbers: Vec<NumberSpec>) -> Result<(), SimError> {
        let mut parsed = Vec::new();
        for n in numbers {
            let p = party_from(&n.number)?;
            parsed.push((p, n));
        }
        let mut st = self.lock();
        for (p, mut n) in parsed {
            let key = number_key(&n.number);
            if let CommunicationIdentifier::PhoneNumber { value, .. } = &p.id {
                n.number = value.clone();
            }
            st.numbers.insert(key, n);
        }
        Ok(())
    }

    pub fn numbers(&self) -> Vec<NumberSpec> {
        self.lock().numbers.values().cloned().collect()
    }

    pub fn call_snapshot(&self, id: &str) -> Option<CallSnapshot> {
        let st = self.lock();
        let corr = st.resolve(id)?;
        st.calls.get(&corr).map(snapshot)
    }

    pub fn calls(&self) -> Vec<CallSnapshot> {
        let st = self.lock();
        let mut v: Vec<_> = st.calls.values().map(snapshot).collect();
        v.sort_by(|a, b| a.correlation_id.cmp(&b.correlation_id));
        v
    }

    /// Correlation ids of the calls still in progress: ringing, connected, or with agents
    /// still talking on a direct leg. Cheap enough to poll (no snapshots).
    pub fn live_calls(&self) -> Vec<String> {
        let st = self.lock();
        st.calls
            .values()
            .filter(|c| {
                let connected = c
                    .conn
                    .as_ref()
                    .is_some_and(|conn| conn.state != ConnState::Disconnected);
                c.phase == Phase::Ringing || connected || !c.external_agents.is_empty()
            })
            .map(|c| c.correlation_id.clone())
            .collect()
    }

    /// Correlation id of a call given any of its ids.
    pub fn resolve(&self, id: &str) -> Option<String> {
        self.lock().resolve(id)
    }
}

fn agent_snapshot(a: &Agent) -> AgentSnapshot {
    let (availability, activity) = a.presence();
    AgentSnapshot {
        spec: a.spec.clone(),
        in_calls: a.in_calls,
        peak_in_calls: a.peak_in_calls,
        availability,
        activity,
    }
}

/// Numbers are keyed by E.164 when they are phone numbers, else by the raw id.
fn number_key(s: &str) -> String {
    let s = s.trim();
    if s.starts_with('+') {
        switchboard_events::normalize_e164(s).unwrap_or_else(|| s.to_owned())
    } else {
        s.to_owned()
    }
}

/// An opaque incomingCallContext shaped like the service's: an unsigned JWT (`alg: none`)
/// whose `cc` claim carries the call's notification. Only this simulator can answer it.
fn incoming_context(
    ids: &mut crate::ids::IdGen,
    correlation_id: &str,
    server_call_id: &str,
) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let cc = json!({
        "callNotification": {"correlationId": correlation_id, "serverCallId": server_call_id},
        "simulator": "switchboard",
        "nonce": ids.uuid(),
    });
    let cc = base64::engine::general_purpose::STANDARD.encode(cc.to_string());
    let payload = URL_SAFE_NO_PAD.encode(json!({"cc": cc, "shrToken": ""}).to_string());
    format!("{header}.{payload}.")
}

impl Engine {
    /// Set (or clear) the Teams tenant's interop settings (ADR 0010).
    pub fn set_tenant(&self, tenant: Option<crate::tenant::TenantPolicy>) {
        self.lock().tenant = tenant.map(|t| (t, self.cfg.resource_id.clone()));
    }
}

/// Apply a seed to a running engine: agents, numbers, then faults and timing if given.
pub(crate) fn apply_seed(engine: &Engine, seed: Seed) -> Result<(), SimError> {
    if let Some(f) = &seed.faults {
        check_faults(f)?;
    }
    engine.upsert_agents(seed.agents)?;
    engine.add_numbers(seed.numbers)?;
    if let Some(t) = seed.tenant {
        engine.set_tenant(Some(t));
    }
    if let Some(f) = seed.faults {
        engine.faults.set(f);
    }
    if let Some(t) = seed.timing {
        engine.set_timing(t);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn identity_and_digit_parsers_never_panic(s in "\\PC{0,30}") {
            let _ = party_from(&s);
            let _ = parse_digits(&s);
        }

        #[test]
        fn seed_parser_never_panics(s in "\\PC{0,200}") {
            let _ = crate::config::Seed::from_json(&s);
            let _ = serde_json::from_str::<crate::faults::Faults>(&s);
        }
    }

    #[test]
    fn identities_and_digits() {
        assert!(matches!(
            party_from("+1 (425) 555-0100").unwrap().id,
            CommunicationIdentifier::PhoneNumber { .. }
        ));
        assert_eq!(party_from("+14255550100").unwrap().raw, "4:+14255550100");
        assert!(matches!(
            party_from("8:acs:r_u").unwrap().id,
            CommunicationIdentifier::CommunicationUser { .. }
        ));
        assert!(party_from("hello").is_err());
        assert!(party_from("").is_err());
        assert_eq!(
            parse_digits("1 2#*A").unwrap(),
            vec!['1', '2', '#', '*', 'a']
        );
        assert!(parse_digits("1x").is_err());
    }

    #[test]
    fn context_looks_like_the_service_token() {
        let mut ids = crate::ids::IdGen::new(1);
        let t = incoming_context(&mut ids, "c", "s");
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "none");
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert!(payload["cc"].is_string());
    }
}
