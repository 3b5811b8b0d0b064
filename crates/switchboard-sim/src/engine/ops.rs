//! Call Automation operations (everything but media, which lives in `media.rs`) and the call
//! life cycle they drive: answer → connecting → connected → (transferring → transferAccepted)
//! → disconnected; invitations; participants; recordings.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};
use switchboard_events::CommunicationIdentifier;

use super::guard::{check_callback_uri, established, live_call, Reply};
use super::model::{
    ConnState, Connection, Invitation, InvitationState, Outcome, Participant, Party, Phase,
    Recording, SimCall, State, Transfer,
};
use super::{emit, emit_participants, fields, Engine};
use crate::callbacks::spawn_delivery;
use crate::config::Behaviour;
use crate::error::ApiError;
use crate::ids::IdGen;
use crate::ledger::{Effect, TimelineKind};
use crate::requests::*;
use crate::wire::{codes, ResultInfo};

fn opt_callback(uri: &Option<String>) -> Result<(), ApiError> {
    match uri {
        Some(u) => check_callback_uri(u, "OperationCallbackUri"),
        None => Ok(()),
    }
}

/// A `CallConnectionProperties` body.
pub(crate) fn connection_properties(call: &SimCall) -> Value {
    let Some(conn) = call.conn.as_ref() else {
        return json!({});
    };
    let mut v = json!({
        "callConnectionId": conn.id,
        "serverCallId": call.server_call_id,
        "targets": conn.targets.iter().map(Party::wire).collect::<Vec<_>>(),
        "callConnectionState": conn.state.as_str(),
        "callbackUri": conn.callback_uri,
        "source": if call.phase == Phase::Outbound { conn.bot.wire() } else { call.caller.wire() },
        "correlationId": call.correlation_id,
        "answeredBy": {"id": conn.bot.raw},
    });
    if let Some(num) = &conn.answered_for {
        v["answeredFor"] = json!({"value": num});
    }
    if let Some(name) = &conn.source_display_name {
        v["sourceDisplayName"] = json!(name);
    }
    if let Some(num) = &conn.source_caller_id {
        v["sourceCallerIdNumber"] = json!({"value": num});
    }
    v
}

impl Engine {
    fn bot_party(&self, answered_by: Option<&str>, to: &Party) -> Party {
        if let Some(id) = answered_by {
            return Party::new(CommunicationIdentifier::from_raw_id(id));
        }
        match &to.id {
            CommunicationIdentifier::CommunicationUser { .. } => to.clone(),
            _ => Party::new(CommunicationIdentifier::communication_user(
                &self.cfg.bot_id,
            )),
        }
    }

    fn new_connection(
        self: &Arc<Self>,
        id: String,
        callback_uri: String,
        version: &str,
        bot: Party,
    ) -> Connection {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        spawn_delivery(Arc::clone(self), rx);
        Connection {
            id,
            state: ConnState::Connecting,
            callback_uri,
            version: version.to_owned(),
            bot,
            answered_for: None,
            source_display_name: None,
            source_caller_id: None,
            targets: Vec::new(),
            participants: Vec::new(),
            sequence: 0,
            invitations: Default::default(),
            transfer: None,
            media: Default::default(),
            recording: None,
            answer_context: None,
            cognitive_services_endpoint: None,
            tx: Some(tx),
        }
    }

    /// Ringing call behind an incomingCallContext, or the ACS-like error.
    fn ringing_call<'a>(st: &'a mut State, context: &str) -> Result<&'a mut SimCall, ApiError> {
        let corr = st.by_context.get(context).cloned().ok_or_else(|| {
            ApiError::invalid("Invalid request, the incomingCallContext is invalid or unknown.")
        })?;
        let call = st.calls.get_mut(&corr).ok_or_else(|| {
            ApiError::invalid("Invalid request, the incomingCallContext is invalid or unknown.")
        })?;
        match call.phase {
            Phase::Ringing => {
                if call
                    .ring_deadline
                    .is_some_and(|d| std::time::Instant::now() >= d)
                {
                    call.phase = Phase::Expired;
                    return Err(ApiError::not_found(
                        "The incoming call was not answered within the ringing window and no longer exists. DiagCode: 404#8522.@",
                    ));
                }
                Ok(call)
            }
            Phase::Answered | Phase::Redirected | Phase::Rejected => Err(ApiError::conflict(
                "The incoming call has already been answered, redirected or rejected.",
            )),
            Phase::Abandoned | Phase::Expired => Err(ApiError::not_found(
                "The incoming call no longer exists: the caller hung up or it was not answered in time. DiagCode: 404#8522.@",
            )),
            Phase::Outbound => Err(ApiError::invalid(
                "Invalid request, the incomingCallContext is invalid or unknown.",
            )),
        }
    }

    /// `POST /calling/callConnections:answer`.
    pub fn answer(
        self: &Arc<Self>,
        version: &str,
        req: AnswerCallRequest,
    ) -> Result<Reply, ApiError> {
        check_callback_uri(&req.callback_uri, "CallbackUri")?;
        let connect_delay = self.scaled(self.timing().connect_delay);
        let mut guard = self.lock();
        let st = &mut *guard;
        // Validate first so a refused answer mints no id (ids stay deterministic per seed);
        // then look the call up again for the mutable borrow.
        let call = Self::ringing_call(st, &req.incoming_call_context)?;
        let bot = self.bot_party(req.answered_by.as_ref().map(|a| a.id.as_str()), &call.to);
        let ccid = st.ids.call_connection_id();
        let call = Self::ringing_call(st, &req.incoming_call_context)?;
        let mut conn = self.new_connection(ccid.clone(), req.callback_uri.clone(), version, bot);
        conn.targets = vec![call.to.clone()];
        if let CommunicationIdentifier::PhoneNumber { value, .. } = &call.to.id {
            conn.answered_for = Some(value.clone());
        }
        conn.answer_context = req.operation_context.clone();
        conn.cognitive_services_endpoint =
            CallIntelligenceOptionsModel::endpoint(req.call_intelligence_options.as_ref());
        call.conn = Some(conn);
        call.phase = Phase::Answered;
        let corr = call.correlation_id.clone();
        st.by_connection.insert(ccid.clone(), corr.clone());
        let call = st
            .calls
            .get(&corr)
            .ok_or_else(|| ApiError::call_not_found(&ccid))?;
        self.effect(call, Effect::Answer);
        let body = connection_properties(call);
        let hang_up_after = call.hang_up_after;
        drop(guard);
        self.note(
            &corr,
            Some(&ccid),
            TimelineKind::Call,
            "answered",
            json!({"callbackUri": req.callback_uri, "apiVersion": version}),
        );
        let ccid2 = ccid.clone();
        self.after(connect_delay, move |e| e.connected(&ccid2));
        if let Some(d) = hang_up_after {
            let corr2 = corr.clone();
            self.after(connect_delay + self.scaled(d), move |e| {
                let _ = e.hang_up_caller(&corr2);
            });
        }
        Ok(Reply::json(StatusCode::OK, body))
    }

    /// Connecting → connected: `CallConnected`, then `ParticipantsUpdated` #1.
    pub(crate) fn connected(self: &Arc<Self>, ccid: &str) {
        let mut guard = self.lock();
        let State {
            ids,
            calls,
            by_connection,
            ..
        } = &mut *guard;
        let Ok(call) = live_call(calls, by_connection, ccid) else {
            return;
        };
        let Some(conn) = call.conn.as_mut() else {
            return;
        };
        if conn.state != ConnState::Connecting {
            return;
        }
        conn.state = ConnState::Connected;
        let mut roster = Vec::new();
        if call.phase != Phase::Outbound {
            roster.push(Participant::new(call.caller.clone()));
        }
        let mut bot = Participant::new(conn.bot.clone());
        bot.is_bot = true;
        roster.push(bot);
        conn.participants = roster;
        let ctx = conn.answer_context.clone();
        emit(
            ids,
            call,
            "CallConnected",
            fields([]),
            ctx.as_ref(),
            ResultInfo::ok(),
            None,
            None,
        );
        emit_participants(ids, call);
        let corr = call.correlation_id.clone();
        drop(guard);
        self.note(
            &corr,
            Some(ccid),
            TimelineKind::Call,
            "connected",
            json!({}),
        );
    }

    /// `POST /calling/callConnections:reject`.
    pub fn reject(self: &Arc<Self>, req: RejectCallRequest) -> Result<Reply, ApiError> {
        let mut guard = self.lock();
        let call = Self::ringing_call(&mut guard, &req.incoming_call_context)?;
        call.phase = Phase::Rejected;
        let corr = call.correlation_id.clone();
        self.effect(call, Effect::Reject);
        drop(guard);
        self.note(
            &corr,
            None,
            TimelineKind::Call,
            "rejected",
            json!({"reason": req.call_reject_reason}),
        );
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    }

    /// `POST /calling/callConnections:redirect`.
    pub fn redirect(self: &Arc<Self>, req: RedirectCallRequest) -> Result<Reply, ApiError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let target = Party::new(req.target);
        let agent = agent_of(st, &target);
        let call = Self::ringing_call(st, &req.incoming_call_context)?;
        call.phase = Phase::Redirected;
        let corr = call.correlation_id.clone();
        self.effect(call, Effect::Redirect);
        drop(guard);
        self.note(
            &corr,
            None,
            TimelineKind::Call,
            "redirected",
            json!({"target": target.raw}),
        );
        // The caller now rings the target directly; an agent who picks up is busy on it.
        if let Some(agent) = agent {
            let timeout = self.scaled(self.timing().default_invitation_timeout);
            let (outcome, delay) = self.plan(&self.lock(), Some(&agent), timeout);
            if outcome == Outcome::Joined {
                self.after(delay, move |e| e.external_join(&corr, &agent));
            }
        }
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    }

    /// `POST /calling/callConnections` (outbound call).
    pub fn create_call(
        self: &Arc<Self>,
        version: &str,
        req: CreateCallRequest,
    ) -> Result<Reply, ApiError> {
        check_callback_uri(&req.callback_uri, "CallbackUri")?;
        let Some(first) = req.targets.first() else {
            return Err(ApiError::invalid(
                "Invalid request, targets must not be empty.",
            ));
        };
        let has_pstn = req
            .targets
            .iter()
            .any(|t| matches!(t, CommunicationIdentifier::PhoneNumber { .. }));
        if has_pstn && req.source_caller_id_number.is_none() {
            return Err(ApiError::invalid(
                "Invalid request, SourceCallerIdNumber is required to call a phone number.",
            ));
        }
        let target = Party::new(first.clone());
        let timing = self.timing();
        let timeout = self.scaled(timing.default_invitation_timeout);
        let mut guard = self.lock();
        let st = &mut *guard;
        let agent = agent_of(st, &target);
        let (outcome, delay) = self.plan_for(st, &target, agent.as_deref(), timeout);
        let corr = st.ids.uuid();
        let server_call_id = st.ids.server_call_id();
        let ccid = st.ids.call_connection_id();
        let bot_raw = req
            .source
            .as_ref()
            .map(|s| s.id.clone())
            .unwrap_or_else(|| self.cfg.bot_id.clone());
        let bot = Party::new(CommunicationIdentifier::from_raw_id(&bot_raw));
        let mut conn =
            self.new_connection(ccid.clone(), req.callback_uri.clone(), version, bot.clone());
        conn.targets = req.targets.iter().cloned().map(Party::new).collect();
        conn.source_display_name = req.source_display_name.clone();
        conn.source_caller_id = req
            .source_caller_id_number
            .as_ref()
            .map(|p| p.value.clone());
        conn.answer_context = req.operation_context.clone();
        conn.cognitive_services_endpoint =
            CallIntelligenceOptionsModel::endpoint(req.call_intelligence_options.as_ref());
        let call = SimCall {
            correlation_id: corr.clone(),
            server_call_id: server_call_id.clone(),
            caller: bot,
            to: target.clone(),
            phase: Phase::Outbound,
            incoming_context: None,
            incoming_event_id: None,
            ring_deadline: None,
            conn: Some(conn),
            dtmf: Default::default(),
            hang_up_after: None,
            external_agents: Vec::new(),
        };
        st.by_connection.insert(ccid.clone(), corr.clone());
        st.by_server_call.insert(server_call_id, corr.clone());
        self.effect(&call, Effect::Create);
        let body = connection_properties(&call);
        let evicted = st.insert_call(call, self.cfg.max_retained_calls);
        drop(guard);
        self.forget(&evicted);
        self.note(
            &corr,
            Some(&ccid),
            TimelineKind::Call,
            "created",
            json!({"target": target.raw, "apiVersion": version}),
        );
        self.after(delay, move |e| e.outbound_outcome(&ccid, outcome, agent));
        Ok(Reply::json(StatusCode::CREATED, body))
    }

    fn outbound_outcome(self: &Arc<Self>, ccid: &str, outcome: Outcome, agent: Option<String>) {
        let mut guard = self.lock();
        let State {
            ids,
            calls,
            by_connection,
            agents,
            ..
        } = &mut *guard;
        let Ok(call) = live_call(calls, by_connection, ccid) else {
            return;
        };
        let Some(conn) = call.conn.as_mut() else {
            return;
        };
        if conn.state != ConnState::Connecting {
            return;
        }
        let raw = call.to.raw.clone();
        let corr = call.correlation_id.clone();
        if outcome == Outcome::Joined {
            conn.state = ConnState::Connected;
            let mut bot = Participant::new(conn.bot.clone());
            bot.is_bot = true;
            let mut target = Participant::new(call.to.clone());
            if let Some(a) = agent.as_ref().and_then(|a| agents.get_mut(a)) {
                a.join();
                target.agent = Some(a.spec.id.clone());
                target.join = ids.next_u64();
            }
            let talk = agent
                .as_ref()
                .and_then(|a| agents.get(a))
                .and_then(|a| a.spec.talk_time)
                .map(|t| (t, target.agent.clone(), target.join));
            conn.participants = vec![bot, target];
            let ctx = conn.answer_context.clone();
            emit(
                ids,
                call,
                "CallConnected",
                fields([]),
                ctx.as_ref(),
                ResultInfo::ok(),
                None,
                None,
            );
            emit_participants(ids, call);
            drop(guard);
            self.note(
                &corr,
                Some(ccid),
                TimelineKind::Agent,
                "accepted",
                json!({"participant": raw}),
            );
            if let Some((t, Some(agent), join)) = talk {
                let d = self.scaled(t);
                self.after(d, move |e| e.talk_over(&corr, &agent, join));
            }
            return;
        }
        let result = failure_result(outcome, &raw);
        let ctx = conn.answer_context.clone();
        emit(
            ids,
            call,
            "CreateCallFailed",
            fields([]),
            ctx.as_ref(),
            result.clone(),
            None,
            None,
        );
        self.end_connection(ids, call, agents, result, false);
        drop(guard);
        self.note(
            &corr,
            Some(ccid),
            TimelineKind::Agent,
            outcome_name(outcome),
            json!({"participant": raw}),
        );
    }

    /// `GET /calling/callConnections/{id}`.
    pub fn get_call(&self, ccid: &str) -> Result<Reply, ApiError> {
        let mut guard = self.lock();
        let State {
            calls,
            by_connection,
            ..
        } = &mut *guard;
        let call = live_call(calls, by_connection, ccid)?;
        Ok(Reply::json(StatusCode::OK, connection_properties(call)))
    }

    /// `DELETE /calling/callConnections/{id}`: our leg leaves.
    pub fn hangup(self: &Arc<Self>, ccid: &str) -> Result<Reply, ApiError> {
        self.leave(ccid, false)
    }

    /// `POST /calling/callConnections/{id}:terminate`: the call ends for everyone.
    pub fn terminate(self: &Arc<Self>, ccid: &str) -> Result<Reply, ApiError> {
        self.leave(ccid, true)
    }

    fn leave(self: &Arc<Self>, ccid: &str, for_everyone: bool) -> Result<Reply, ApiError> {
        let mut guard = self.lock();
        let State {
            ids,
            calls,
            by_connection,
            agents,
            ..
        } = &mut *guard;
        let call = live_call(calls, by_connection, ccid)?;
        self.effect(
            call,
            if for_everyone {
                Effect::Terminate
            } else {
                Effect::Hangup
            },
        );
        // When only our leg leaves, whoever else is in the call keeps talking (agents keep
        // their talk time); terminate ends it for all.
        self.end_connection(ids, call, agents, codes::ended_by_api(), !for_everyone);
        let corr = call.correlation_id.clone();
        drop(guard);
        self.note(
            &corr,
            Some(ccid),
            TimelineKind::Call,
            if for_everyone {
                "terminated"
            } else {
                "hung up"
            },
            json!({}),
        );
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    }

    /// Our leg is over: `CallDisconnected`, queue closed, media and invitations dropped,
    /// recording stopped, agents released (or left talking to the caller).
    pub(crate) fn end_connection(
        &self,
        ids: &mut IdGen,
        call: &mut SimCall,
        agents: &mut std::collections::BTreeMap<String, super::model::Agent>,
        result: ResultInfo,
        keep_talking: bool,
    ) {
        emit(
            ids,
            call,
            "CallDisconnected",
            fields([]),
            None,
            result,
            None,
            None,
        );
        let customer_raw = call.customer().raw.clone();
        let Some(conn) = call.conn.as_mut() else {
            return;
        };
        conn.state = ConnState::Disconnected;
        conn.tx = None;
        conn.media = Default::default();
        for inv in conn.invitations.values_mut() {
            if inv.state == InvitationState::Ringing {
                inv.state = InvitationState::Cancelled;
            }
        }
        conn.transfer = None;
        let caller_present = conn
            .participants
            .iter()
            .any(|p| p.party.raw == customer_raw);
        for p in conn.participants.drain(..) {
            let Some(agent_id) = p.agent else { continue };
            let talks_on = keep_talking
                && caller_present
                && agents
                    .get(&agent_id)
                    .is_some_and(|a| a.spec.talk_time.is_some());
            if talks_on {
                call.external_agents.push((agent_id, p.join));
            } else if let Some(a) = agents.get_mut(&agent_id) {
                a.in_calls = a.in_calls.saturating_sub(1);
            }
        }
    }

    /// Decide what an invitation to `agent` (or a non-roster target) turns into, and when.
    pub(crate) fn plan(
        &self,
        st: &State,
        agent: Option<&str>,
        timeout: Duration,
    ) -> (Outcome, Duration) {
        let timing = self.timing();
        let Some(a) = agent.and_then(|a| st.agents.get(a)) else {
            let d = timing.scaled(timing.default_accept_delay);
            return if d < timeout {
                (Outcome::Joined, d)
            } else {
                (Outcome::TimedOut, timeout)
            };
        };
        let busy = timing.scaled(timing.busy_delay);
        if a.spec.busy_when_in_call && a.in_calls > 0 {
            return (Outcome::Busy, busy);
        }
        let within = |outcome, after: Duration| {
            let d = timing.scaled(after);
            if d < timeout {
                (outcome, d)
            } else {
                (Outcome::TimedOut, timeout)
            }
        };
        match &a.spec.behaviour {
            Behaviour::Accept { after } | Behaviour::Voicemail { after } => {
                within(Outcome::Joined, *after)
            }
            Behaviour::Decline { after } => within(Outcome::Declined, *after),
            Behaviour::NoAnswer => (Outcome::TimedOut, timeout),
            Behaviour::Busy => (Outcome::Busy, busy),
        }
    }

    /// [`plan`](Self::plan) for `target`: a Teams user the tenant's interop settings do not
    /// let us reach is refused (ADR 0010) before any agent behaviour applies.
    pub(crate) fn plan_for(
        &self,
        st: &State,
        target: &Party,
        agent: Option<&str>,
        timeout: Duration,
    ) -> (Outcome, Duration) {
        if refused_by_tenant(st, target) {
            let timing = self.timing();
            return (Outcome::Forbidden, timing.scaled(timing.busy_delay));
        }
        self.plan(st, agent, timeout)
    }

    /// `POST …/participants:add`.
    pub fn add_participant(
        self: &Arc<Self>,
        ccid: &str,
        req: AddParticipantRequest,
    ) -> Result<Reply, ApiError> {
        opt_callback(&req.operation_callback_uri)?;
        // A PSTN invitee sees a caller id, which must be one of our numbers (ADR 0012).
        if matches!(
            req.participant_to_add,
            CommunicationIdentifier::PhoneNumber { .. }
        ) && req.source_caller_id_number.is_none()
        {
            return Err(ApiError::invalid(
                "Invalid request, SourceCallerIdNumber is required to add a phone number.",
            ));
        }
        let timing = self.timing();
        let timeout = match req.invitation_timeout_in_seconds {
            None | Some(0) => timing.default_invitation_timeout,
            Some(s) if (1..=180).contains(&s) => Duration::from_secs(s.unsigned_abs()),
            Some(_) => {
                return Err(ApiError::invalid(
                    "Invalid request, InvitationTimeoutInSeconds must be between 0 and 180.",
                ))
            }
        };
        let timeout = timing.scaled(timeout);
        let target = Party::new(req.participant_to_add);
        let mut guard = self.lock();
        let st = &mut *guard;
        let agent = agent_of(st, &target);
        let (outcome, delay) = self.plan_for(st, &target, agent.as_deref(), timeout);
        let invitation_id = st.ids.uuid();
        let State {
            calls,
            by_connection,
            ..
        } = st;
        let call = live_call(calls, by_connection, ccid)?;
        established(call)?;
        let Some(conn) = call.conn.as_mut() else {
            return Err(ApiError::call_not_found(ccid));
        };
        conn.invitations.insert(
            invitation_id.clone(),
            Invitation {
                id: invitation_id.clone(),
                target: target.clone(),
                operation_context: req.operation_context.clone(),
                callback_override: req.operation_callback_uri.clone(),
                state: InvitationState::Ringing,
                agent: agent.clone(),
            },
        );
        self.effect(call, Effect::Add);
        let corr = call.correlation_id.clone();
        drop(guard);
        self.note(
            &corr,
            Some(ccid),
            TimelineKind::Agent,
            "ringing",
            json!({"participant": target.raw, "invitationId": invitation_id, "agent": agent, "plannedOutcome": outcome_name(outcome), "inMs": delay.as_millis() as u64}),
        );
        let body = json!({
            "participant": {"identifier": target.wire(), "isMuted": false, "isOnHold": false},
            "operationContext": req.operation_context,
            "invitationId": invitation_id,
        });
        let (c, inv) = (ccid.to_owned(), invitation_id);
        self.after(delay, move |e| e.invitation_outcome(&c, &inv, outcome));
        Ok(Reply::json(StatusCode::ACCEPTED, strip_nulls(body)))
    }

    fn invitation_outcome(self: &Arc<Self>, ccid: &str, invitation_id: &str, outcome: Outcome) {
        let mut guard = self.lock();
        let State {
            ids,
            calls,
            by_connection,
            agents,
            ..
        } = &mut *guard;
        let Ok(call) = live_call(calls, by_connection, ccid) else {
            return;
        };
        let Some(conn) = call.conn.as_mut() else {
            return;
        };
        let Some(inv) = conn.invitations.get_mut(invitation_id) else {
            return;
        };
        if inv.state != InvitationState::Ringing {
            return;
        }
        let inv = inv.clone();
        let corr = call.correlation_id.clone();
        let participant = json!({ "participant": inv.target.wire() });
        let participant_fields = participant.as_object().cloned().unwrap_or_default();
        let mut talk = None;
        if outcome == Outcome::Joined {
            if let Some(i) = conn.invitations.get_mut(invitation_id) {
                i.state = InvitationState::Accepted;
            }
            if conn.find(&inv.target.raw).is_none() {
                let mut p = Participant::new(inv.target.clone());
                if let Some(a) = inv.agent.as_ref().and_then(|a| agents.get_mut(a)) {
                    a.join();
                    p.agent = Some(a.spec.id.clone());
                    p.join = ids.next_u64();
                    talk = a.spec.talk_time.map(|t| (t, a.spec.id.clone(), p.join));
                }
                conn.participants.push(p);
            }
            emit(
                ids,
                call,
                "AddParticipantSucceeded",
                participant_fields,
                inv.operation_context.as_ref(),
                ResultInfo::ok(),
                inv.callback_override.as_ref(),
                None,
            );
            emit_participants(ids, call);
        } else {
            if let Some(i) = conn.invitations.get_mut(invitation_id) {
                i.state = InvitationState::Failed;
            }
            let result = failure_result(outcome, &inv.target.raw);
            emit(
                ids,
                call,
                "AddParticipantFailed",
                participant_fields,
                inv.operation_context.as_ref(),
                result,
                inv.callback_override.as_ref(),
                None,
            );
        }
        drop(guard);
        self.note(
            &corr,
            Some(ccid),
            TimelineKind::Agent,
            outcome_name(outcome),
            json!({"participant": inv.target.raw, "invitationId": inv.id}),
        );
        if let Some((t, agent, join)) = talk {
            let d = self.scaled(t);
            self.after(d, move |e| e.talk_over(&corr, &agent, join));
        }
    }

    /// An agent's talk time is over: they hang up.
    pub(crate) fn talk_over(self: &Arc<Self>, corr: &str, agent: &str, join: u64) {
        let mut guard = self.lock();
        let State {
            ids, calls, agents, ..
        } = &mut *guard;
        let Some(call) = calls.get_mut(corr) else {
            return;
        };
        if let Some(pos) = call
            .external_agents
            .iter()
            .position(|(a, j)| a == agent && *j == join)
        {
            call.external_agents.remove(pos);
            if let Some(a) = agents.get_mut(agent) {
                a.in_calls = a.in_calls.saturating_sub(1);
            }
            drop(guard);
            self.note(
                corr,
                None,
                TimelineKind::Agent,
                "hung up",
                json!({"agent": agent, "leg": "direct"}),
            );
            return;
        }
        let Some(conn) = call.conn.as_mut() else {
            return;
        };
        if conn.state == ConnState::Disconnected {
            return;
        }
        let Some(pos) = conn
            .participants
            .iter()
            .position(|p| p.agent.as_deref() == Some(agent) && p.join == join)
        else {
            return;
        };
        conn.participants.remove(pos);
        if let Some(a) = agents.get_mut(agent) {
            a.in_calls = a.in_calls.saturating_sub(1);
        }
        let ccid = conn.id.clone();
        let alone = conn.humans() == 0;
        emit_participants(ids, call);
        if alone {
            self.end_connection(ids, call, agents, codes::conversation_ended(), false);
        }
        drop(guard);
        self.note(
            corr,
            Some(&ccid),
            TimelineKind::Agent,
            "hung up",
            json!({"agent": agent}),
        );
    }

    /// After a transfer or redirect, an agent talks to the caller outside our leg.
    fn external_join(self: &Arc<Self>, corr: &str, agent: &str) {
        let mut guard = self.lock();
        let State {
            ids, calls, agents, ..
        } = &mut *guard;
        let Some(call) = calls.get_mut(corr) else {
            return;
        };
        let Some(a) = agents.get_mut(agent) else {
            return;
        };
        a.join();
        let join = ids.next_u64();
        call.external_agents.push((agent.to_owned(), join));
        let talk = a.spec.talk_time;
        drop(guard);
        self.note(
            corr,
            None,
            TimelineKind::Agent,
            "accepted",
            json!({"agent": agent, "leg": "direct"}),
        );
        if let Some(t) = talk {
            let d = self.scaled(t);
            let (c, a) = (corr.to_owned(), agent.to_owned());
            self.after(d, move |e| e.talk_over(&c, &a, join));
        }
    }

    /// `POST …/participants:remove`.
    pub fn remove_participant(
        self: &Arc<Self>,
        ccid: &str,
        req: RemoveParticipantRequest,
    ) -> Result<Reply, ApiError> {
        opt_callback(&req.operation_callback_uri)?;
        let raw = req.participant_to_remove.raw_id();
        let delay = self.scaled(self.timing().operation_delay);
        let mut guard = self.lock();
        let State {
            calls,
            by_connection,
            ..
        } = &mut *guard;
        let call = live_call(calls, by_connection, ccid)?;
        established(call)?;
        let conn = call
            .conn
            .as_ref()
            .ok_or_else(|| ApiError::call_not_found(ccid))?;
        if conn.find(&raw).is_none() {
            return Err(ApiError::not_found(format!(
                "Participant {raw} is not in the call. DiagCode: 404#8522.@"
            )));
        }
        self.effect(call, Effect::Remove);
        drop(guard);
        let body = strip_nulls(json!({"operationContext": req.operation_context}));
        let c = ccid.to_owned();
        self.after(delay, move |e| {
            e.removed(&c, &raw, req.operation_context, req.operation_callback_uri)
        });
        Ok(Reply::json(StatusCode::ACCEPTED, body))
    }

    fn removed(self: &Arc<Self>, ccid: &str, raw: &str, ctx: Option<String>, cb: Option<String>) {
        let mut guard = self.lock();
        let State {
            ids,
            calls,
            by_connection,
            agents,
            ..
        } = &mut *guard;
        let Ok(call) = live_call(calls, by_connection, ccid) else {
            return;
        };
        let Some(conn) = call.conn.as_mut() else {
            return;
        };
        let Some(pos) = conn.find(raw) else { return };
        let p = conn.participants.remove(pos);
        if let Some(a) = p.agent.as_ref().and_then(|a| agents.get_mut(a)) {
            a.in_calls = a.in_calls.saturating_sub(1);
        }
        let fields = fields([("participant", p.party.wire())]);
        emit(
            ids,
            call,
            "RemoveParticipantSucceeded",
            fields,
            ctx.as_ref(),
            ResultInfo::ok(),
            cb.as_ref(),
            None,
        );
        let corr = call.correlation_id.clone();
        if p.is_bot {
            self.end_connection(ids, call, agents, codes::removed_by_other(), true);
        } else {
            emit_participants(ids, call);
            if call.conn.as_ref().is_some_and(|c| c.humans() == 0) {
                self.end_connection(ids, call, agents, codes::conversation_ended(), false);
            }
        }
        drop(guard);
        self.note(
            &corr,
            Some(ccid),
            TimelineKind::Call,
            "participant removed",
            json!({"participant": raw}),
        );
    }

    /// `POST …/participants:cancelAddParticipant`.
    pub fn cancel_add(
        self: &Arc<Self>,
        ccid: &str,
        req: CancelAddParticipantRequest,
    ) -> Result<Reply, ApiError> {
        opt_callback(&req.operation_callback_uri)?;
        let delay = self.scaled(self.timing().operation_delay);
        let mut guard = self.lock();
        let State {
            calls,
            by_connection,
            ..
        } = &mut *guard;
        let call = live_call(calls, by_connection, ccid)?;
        established(call)?;
        let conn = call
            .conn
            .as_mut()
            .ok_or_else(|| ApiError::call_not_found(ccid))?;
        let inv = conn
            .invitations
            .get_mut(&req.invitation_id)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Invitation {} not found. DiagCode: 404#8522.@",
                    req.invitation_id
                ))
            })?;
        let cancelled = inv.state == InvitationState::Ringing;
        if cancelled {
            // The pending add ends here: no AddParticipantSucceeded/Failed will follow.
            inv.state = InvitationState::Cancelled;
        }
        let raw = inv.target.raw.clone();
        if cancelled {
            self.effect(call, Effect::Cancel);
        }
        drop(guard);
        let body = strip_nulls(
            json!({"invitationId": req.invitation_id, "operationContext": req.operation_context}),
        );
        let c = ccid.to_owned();
        self.after(delay, move |e| {
            let mut guard = e.lock();
            let State {
                ids,
                calls,
                by_connection,
                ..
            } = &mut *guard;
            let Ok(call) = live_call(calls, by_connection, &c) else {
                return;
            };
            let f = fields([("invitationId", json!(req.invitation_id))]);
            let (kind, result) = if cancelled {
                ("CancelAddParticipantSucceeded", codes::add_cancelled(&raw))
            } else {
                ("CancelAddParticipantFailed", codes::cancel_too_late())
            };
            emit(
                ids,
                call,
                kind,
                f,
                req.operation_context.as_ref(),
                result,
                req.operation_callback_uri.as_ref(),
                None,
            );
            let corr = call.correlation_id.clone();
            drop(guard);
            e.note(
                &corr,
                Some(&c),
                TimelineKind::Agent,
                if cancelled {
                    "invitation cancelled"
                } else {
                    "cancel too late"
                },
                json!({"invitationId": req.invitation_id}),
            );
        });
        Ok(Reply::json(StatusCode::ACCEPTED, body))
    }

    /// `POST …:transferToParticipant`.
    pub fn transfer(
        self: &Arc<Self>,
        ccid: &str,
        req: TransferToParticipantRequest,
    ) -> Result<Reply, ApiError> {
        opt_callback(&req.operation_callback_uri)?;
        // A PSTN target sees a caller id, which must be one of our numbers (ADR 0010).
        if matches!(
            req.target_participant,
            CommunicationIdentifier::PhoneNumber { .. }
        ) && req.source_caller_id_number.is_none()
        {
            return Err(ApiError::invalid(
                "Invalid request, SourceCallerIdNumber is required to transfer to a phone number.",
            ));
        }
        let timing = self.timing();
        let timeout = timing.scaled(timing.default_invitation_timeout);
        let target = Party::new(req.target_participant);
        let mut guard = self.lock();
        let st = &mut *guard;
        let agent = agent_of(st, &target);
        let (outcome, delay) = self.plan_for(st, &target, agent.as_deref(), timeout);
        let gen = st.ids.next_u64();
        let State {
            calls,
            by_connection,
            ..
        } = st;
        let call = live_call(calls, by_connection, ccid)?;
        let caller = call.customer().clone();
        let conn = call
            .conn
            .as_mut()
            .ok_or_else(|| ApiError::call_not_found(ccid))?;
        match conn.state {
            ConnState::Connected => {}
            ConnState::Transferring | ConnState::TransferAccepted => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "8607",
                    "A transfer is already in progress for this call. DiagCode: 409#8607.@",
                ))
            }
            _ => return Err(ApiError::not_established()),
        }
        let transferee = match req.transferee {
            Some(t) => {
                let p = Party::new(t);
                if conn.find(&p.raw).is_none() {
                    return Err(ApiError::invalid(format!(
                        "Invalid request, transferee {} is not in the call.",
                        p.raw
                    )));
                }
                p
            }
            None => caller,
        };
        conn.state = ConnState::Transferring;
        conn.transfer = Some(Transfer {
            target: target.clone(),
            transferee,
            operation_context: req.operation_context.clone(),
            callback_override: req.operation_callback_uri.clone(),
            agent,
            gen,
        });
        self.effect(call, Effect::Transfer);
        let corr = call.correlation_id.clone();
        drop(guard);
        self.note(&corr, Some(ccid), TimelineKind::Agent, "ringing", json!({"participant": target.raw, "transfer": true, "plannedOutcome": outcome_name(outcome)}));
        let c = ccid.to_owned();
        self.after(delay, move |e| e.transfer_outcome(&c, gen, outcome));
        Ok(Reply::json(
            StatusCode::ACCEPTED,
            strip_nulls(json!({"operationContext": req.operation_context})),
        ))
    }

    fn transfer_outcome(self: &Arc<Self>, ccid: &str, gen: u64, outcome: Outcome) {
        let mut guard = self.lock();
        let State {
            ids,
            calls,
            by_connection,
            agents,
            ..
        } = &mut *guard;
        let Ok(call) = live_call(calls, by_connection, ccid) else {
            return;
        };
        let Some(conn) = call.conn.as_mut() else {
            return;
        };
        let Some(t) = conn.transfer.clone() else {
            return;
        };
        if t.gen != gen || conn.state != ConnState::Transferring {
            return;
        }
        let corr = call.correlation_id.clone();
        if outcome == Outcome::Joined {
            conn.state = ConnState::TransferAccepted;
            let f = fields([
                ("transferTarget", t.target.wire()),
                ("transferee", t.transferee.wire()),
            ]);
            emit(
                ids,
                call,
                "CallTransferAccepted",
                f,
                t.operation_context.as_ref(),
                codes::transfer_accepted(),
                t.callback_override.as_ref(),
                None,
            );
            self.end_connection(ids, call, agents, codes::ended_by_transfer(), true);
            drop(guard);
            self.note(
                &corr,
                Some(ccid),
                TimelineKind::Agent,
                "transfer accepted",
                json!({"participant": t.target.raw}),
            );
            if let Some(agent) = t.agent {
                self.external_join(&corr, &agent);
            }
            return;
        }
        conn.state = ConnState::Connected;
        conn.transfer = None;
        // CallTransferFailed carries only the result (no target/transferee, unlike Accepted).
        let result = codes::transfer_failed(outcome_code(outcome), &t.target.raw);
        emit(
            ids,
            call,
            "CallTransferFailed",
            fields([]),
            t.operation_context.as_ref(),
            result,
            t.callback_override.as_ref(),
            None,
        );
        drop(guard);
        self.note(
            &corr,
            Some(ccid),
            TimelineKind::Agent,
            outcome_name(outcome),
            json!({"participant": t.target.raw, "transfer": true}),
        );
    }

    /// `POST …/participants:mute`.
    pub fn mute(
        self: &Arc<Self>,
        ccid: &str,
        req: MuteParticipantsRequest,
    ) -> Result<Reply, ApiError> {
        if req.target_participants.len() != 1 {
            return Err(ApiError::invalid(
                "Invalid request, exactly one target participant can be muted per request.",
            ));
        }
        let target = Party::new(req.target_participants.into_iter().next().unwrap_or(
            CommunicationIdentifier::Unknown {
                raw_id: String::new(),
            },
        ));
        if !matches!(target.id, CommunicationIdentifier::CommunicationUser { .. }) {
            return Err(ApiError::invalid(
                "Invalid request, only ACS users can be muted.",
            ));
        }
        self.set_flag(ccid, &target.raw, Effect::Mute, |p| p.muted = true)?;
        Ok(Reply::json(
            StatusCode::OK,
            strip_nulls(json!({"operationContext": req.operation_context})),
        ))
    }

    /// `POST …:hold`.
    pub fn hold(self: &Arc<Self>, ccid: &str, req: HoldRequest) -> Result<Reply, ApiError> {
        opt_callback(&req.operation_callback_uri)?;
        if let Some(src) = &req.play_source_info {
            super::media::parse_sources(std::slice::from_ref(src))?;
        }
        let raw = req.target_participant.raw_id();
        self.set_flag(ccid, &raw, Effect::Hold, |p| p.on_hold = true)?;
        Ok(Reply::empty(StatusCode::OK))
    }

    /// `POST …:unhold`.
    pub fn unhold(self: &Arc<Self>, ccid: &str, req: UnholdRequest) -> Result<Reply, ApiError> {
        let raw = req.target_participant.raw_id();
        self.set_flag(ccid, &raw, Effect::Unhold, |p| p.on_hold = false)?;
        Ok(Reply::empty(StatusCode::OK))
    }

    fn set_flag(
        self: &Arc<Self>,
        ccid: &str,
        raw: &str,
        effect: Effect,
        f: impl FnOnce(&mut Participant),
    ) -> Result<(), ApiError> {
        let delay = self.scaled(self.timing().operation_delay);
        let mut guard = self.lock();
        let State {
            calls,
            by_connection,
            ..
        } = &mut *guard;
        let call = live_call(calls, by_connection, ccid)?;
        established(call)?;
        let conn = call
            .conn
            .as_mut()
            .ok_or_else(|| ApiError::call_not_found(ccid))?;
        let pos = conn.find(raw).ok_or_else(|| {
            ApiError::not_found(format!(
                "Participant {raw} is not in the call. DiagCode: 404#8522.@"
            ))
        })?;
        if let Some(p) = conn.participants.get_mut(pos) {
            f(p);
        }
        self.effect(call, effect);
        let corr = call.correlation_id.clone();
        drop(guard);
        let what = match effect {
            Effect::Mute => "muted",
            Effect::Hold => "held",
            _ => "unheld",
        };
        self.note(
            &corr,
            Some(ccid),
            TimelineKind::Call,
            what,
            json!({"participant": raw}),
        );
        let c = ccid.to_owned();
        self.after(delay, move |e| {
            let mut guard = e.lock();
            let State {
                ids,
                calls,
                by_connection,
                ..
            } = &mut *guard;
            if let Ok(call) = live_call(calls, by_connection, &c) {
                emit_participants(ids, call);
            }
        });
        Ok(())
    }

    /// `GET …/participants` (paged by `participants_page_size`, `skip` in `nextLink`).
    pub fn get_participants(
        &self,
        ccid: &str,
        version: &str,
        skip: usize,
    ) -> Result<Reply, ApiError> {
        let mut guard = self.lock();
        let State {
            calls,
            by_connection,
            ..
        } = &mut *guard;
        let call = live_call(calls, by_connection, ccid)?;
        let conn = call
            .conn
            .as_ref()
            .ok_or_else(|| ApiError::call_not_found(ccid))?;
        let page = self.cfg.participants_page_size.max(1);
        let value: Vec<Value> = conn
            .participants
            .iter()
            .skip(skip)
            .take(page)
            .map(Participant::wire)
            .collect();
        let mut body = json!({"value": value});
        if skip + page < conn.participants.len() {
            body["nextLink"] = json!(format!(
                "{}/calling/callConnections/{}/participants?api-version={}&skip={}",
                self.cfg.base_url,
                ccid,
                version,
                skip + page
            ));
        }
        Ok(Reply::json(StatusCode::OK, body))
    }

    /// `GET …/participants/{rawId}`.
    pub fn get_participant(&self, ccid: &str, raw: &str) -> Result<Reply, ApiError> {
        let mut guard = self.lock();
        let State {
            calls,
            by_connection,
            ..
        } = &mut *guard;
        let call = live_call(calls, by_connection, ccid)?;
        let conn = call
            .conn
            .as_ref()
            .ok_or_else(|| ApiError::call_not_found(ccid))?;
        let p = conn
            .find(raw)
            .and_then(|i| conn.participants.get(i))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Participant {raw} is not in the call. DiagCode: 404#8522.@"
                ))
            })?;
        Ok(Reply::json(StatusCode::OK, p.wire()))
    }

    /// `POST /calling/recordings`.
    pub fn start_recording(
        self: &Arc<Self>,
        req: StartCallRecordingRequest,
    ) -> Result<Reply, ApiError> {
        if let Some(uri) = &req.recording_state_callback_uri {
            check_callback_uri(uri, "RecordingStateCallbackUri")?;
        }
        let delay = self.scaled(self.timing().operation_delay);
        let mut guard = self.lock();
        let st = &mut *guard;
        let corr =
            match (&req.call_connection_id, &req.call_locator) {
                (Some(ccid), None) => st.by_connection.get(ccid).cloned(),
                (None, Some(loc)) => {
                    let other_kind = loc
                        .kind
                        .as_deref()
                        .is_some_and(|k| k != "serverCallLocator");
                    if other_kind || loc.group_call_id.is_some() || loc.room_id.is_some() {
                        return Err(ApiError::not_supported(
                            "Recording group calls and rooms is not supported by the simulator.",
                        ));
                    }
                    let sc = loc.server_call_id.as_deref().ok_or_else(|| {
                        ApiError::invalid("Invalid request, callLocator.serverCallId is required.")
                    })?;
                    st.by_server_call.get(sc).cloned()
                }
                _ => return Err(ApiError::invalid(
                    "Invalid request, exactly one of callLocator or callConnectionId must be set.",
                )),
            }
            .ok_or_else(|| ApiError::not_found("Call not found. DiagCode: 404#8522.@"))?;
        let rid_seed = st
            .calls
            .get(&corr)
            .and_then(|c| c.connection_id().map(str::to_owned))
            .unwrap_or_default();
        let recording_id = st.ids.recording_id(&rid_seed);
        let call = st
            .calls
            .get_mut(&corr)
            .ok_or_else(|| ApiError::not_found("Call not found. DiagCode: 404#8522.@"))?;
        let conn = match call.conn.as_mut() {
            Some(c) if c.state != ConnState::Disconnected => c,
            _ => return Err(ApiError::not_found("Call not found. DiagCode: 404#8522.@")),
        };
        if conn.state != ConnState::Connected {
            return Err(ApiError::not_established());
        }
        if let Some(existing) = conn.recording.as_ref().and_then(|r| st.recordings.get(r)) {
            if !existing.stopped {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "8553",
                    "Recording is already in progress for this call. DiagCode: 400#8553.@",
                ));
            }
        }
        let active = !req.pause_on_start.unwrap_or(false);
        let callback_uri = req
            .recording_state_callback_uri
            .clone()
            .unwrap_or_else(|| conn.callback_uri.clone());
        conn.recording = Some(recording_id.clone());
        st.recordings.insert(
            recording_id.clone(),
            Recording {
                id: recording_id.clone(),
                correlation_id: corr.clone(),
                active,
                stopped: false,
                started_at: time::OffsetDateTime::now_utc(),
                callback_uri,
            },
        );
        if let Some(call) = st.calls.get(&corr) {
            self.effect(call, Effect::Recording);
        }
        drop(guard);
        self.note(
            &corr,
            None,
            TimelineKind::Call,
            "recording started",
            json!({"recordingId": recording_id, "active": active}),
        );
        let rid = recording_id.clone();
        self.after(delay, move |e| e.recording_changed(&rid));
        Ok(Reply::json(
            StatusCode::OK,
            json!({
                "recordingId": recording_id,
                "recordingState": if active { "active" } else { "inactive" },
                "recordingKind": "azureCommunicationServices",
            }),
        ))
    }

    /// Queue `RecordingStateChanged` with the recording's current state.
    fn recording_changed(self: &Arc<Self>, recording_id: &str) {
        let mut guard = self.lock();
        let State {
            ids,
            calls,
            recordings,
            ..
        } = &mut *guard;
        let Some(rec) = recordings.get(recording_id) else {
            return;
        };
        let Some(call) = calls.get(&rec.correlation_id) else {
            return;
        };
        let source = format!(
            "calling/recordings/{}/{}/RecordingStateChanged",
            call.server_call_id, rec.id
        );
        let f = fields([
            ("eventSource", json!(source)),
            ("recordingId", json!(rec.id)),
            (
                "state",
                json!(if rec.active { "active" } else { "inactive" }),
            ),
            (
                "startDateTime",
                json!(crate::wire::acs_time(rec.started_at)),
            ),
            ("recordingKind", json!("azureCommunicationServices")),
        ]);
        let url = rec.callback_uri.clone();
        emit(
            ids,
            call,
            "RecordingStateChanged",
            f,
            None,
            codes::recording_ok(),
            Some(&url),
            Some(source),
        );
    }

    fn recording_op(
        self: &Arc<Self>,
        recording_id: &str,
        f: impl FnOnce(&mut Recording) -> bool,
    ) -> Result<(), ApiError> {
        let delay = self.scaled(self.timing().operation_delay);
        let mut guard = self.lock();
        let st = &mut *guard;
        let rec = st
            .recordings
            .get_mut(recording_id)
            .filter(|r| !r.stopped && call_alive(&st.calls, r))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Recording {recording_id} not found. DiagCode: 404#8522.@"
                ))
            })?;
        let changed = f(rec);
        let corr = rec.correlation_id.clone();
        if changed {
            if let Some(call) = st.calls.get(&corr) {
                self.effect(call, Effect::RecordingChange);
            }
        }
        drop(guard);
        if changed {
            self.note(
                &corr,
                None,
                TimelineKind::Call,
                "recording state changed",
                json!({"recordingId": recording_id}),
            );
            let rid = recording_id.to_owned();
            self.after(delay, move |e| e.recording_changed(&rid));
        }
        Ok(())
    }

    /// `GET /calling/recordings/{id}`.
    pub fn get_recording(&self, recording_id: &str) -> Result<Reply, ApiError> {
        let guard = self.lock();
        let rec = guard
            .recordings
            .get(recording_id)
            .filter(|r| !r.stopped && call_alive(&guard.calls, r))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Recording {recording_id} not found. DiagCode: 404#8522.@"
                ))
            })?;
        Ok(Reply::json(
            StatusCode::OK,
            json!({
                "recordingId": rec.id,
                "recordingState": if rec.active { "active" } else { "inactive" },
                "recordingKind": "azureCommunicationServices",
            }),
        ))
    }

    /// `POST /calling/recordings/{id}:pause`.
    pub fn pause_recording(self: &Arc<Self>, recording_id: &str) -> Result<Reply, ApiError> {
        self.recording_op(recording_id, |r| std::mem::replace(&mut r.active, false))?;
        Ok(Reply::empty(StatusCode::ACCEPTED))
    }

    /// `POST /calling/recordings/{id}:resume`.
    pub fn resume_recording(self: &Arc<Self>, recording_id: &str) -> Result<Reply, ApiError> {
        self.recording_op(recording_id, |r| !std::mem::replace(&mut r.active, true))?;
        Ok(Reply::empty(StatusCode::ACCEPTED))
    }

    /// `DELETE /calling/recordings/{id}`.
    pub fn stop_recording(self: &Arc<Self>, recording_id: &str) -> Result<Reply, ApiError> {
        self.recording_op(recording_id, |r| {
            r.active = false;
            true
        })?;
        // Mark stopped after the state change so the final RecordingStateChanged still finds it.
        let mut guard = self.lock();
        if let Some(r) = guard.recordings.get_mut(recording_id) {
            r.stopped = true;
        }
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    }
}

/// A recording ends with its call (the service stops it when the call ends).
fn call_alive(calls: &std::collections::HashMap<String, SimCall>, rec: &Recording) -> bool {
    calls
        .get(&rec.correlation_id)
        .and_then(|c| c.conn.as_ref())
        .is_some_and(|c| c.state != ConnState::Disconnected)
}

/// The roster agent behind a Teams user identifier.
pub(crate) fn agent_of(st: &State, party: &Party) -> Option<String> {
    let oid = party.id.teams_user_id()?;
    st.agents
        .contains_key(oid.as_ref())
        .then(|| oid.to_string())
}

/// True when `target` is a Teams user the tenant's interop settings do not let our resource
/// reach (looked up by OID, and UPN for roster agents). ADR 0010.
pub(crate) fn refused_by_tenant(st: &State, target: &Party) -> bool {
    let (Some((tenant, resource_id)), Some(oid)) = (&st.tenant, target.id.teams_user_id()) else {
        return false;
    };
    let oid = oid.to_string();
    let upn = st
        .agents
        .get(&oid)
        .map(|a| a.spec.user_principal_name.clone())
        .unwrap_or_default();
    !tenant.allows(resource_id, &[oid.as_str(), upn.as_str()])
}

pub(crate) fn failure_result(outcome: Outcome, raw: &str) -> ResultInfo {
    match outcome {
        Outcome::Forbidden => codes::add_forbidden(raw),
        Outcome::Declined => codes::add_declined(raw),
        Outcome::Busy => codes::add_busy(raw),
        Outcome::TimedOut | Outcome::Joined => codes::add_timeout(raw),
    }
}

/// (code, subCode, reason) of a failed invitation outcome.
pub(crate) fn outcome_code(o: Outcome) -> (u16, u32, &'static str) {
    match o {
        Outcome::Declined => (603, 8538, "Callee declined the call"),
        Outcome::Busy => (486, 8539, "Callee is busy"),
        Outcome::Forbidden => (
            403,
            10124,
            "Permission check for callee to interact with caller is not allowed",
        ),
        Outcome::TimedOut | Outcome::Joined => (408, 10004, "Call timed out"),
    }
}

pub(crate) fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Joined => "accepted",
        Outcome::Declined => "declined",
        Outcome::Busy => "busy",
        Outcome::TimedOut => "no answer",
        Outcome::Forbidden => "refused by tenant policy",
    }
}

/// Drop `null` members (optional response fields are omitted, not null).
pub(crate) fn strip_nulls(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
    }
    v
}
