//! Serving a virtual-hold callback request: a call state of its own ([`CallbackCall`]), with
//! no incoming call behind it.
//!
//! 1. [`Internal::CallbackStart`] (no state yet) creates it, waiting in the request's queue.
//! 2. Waiting: a re-check timer ([`Internal::QueueRecheck`]) or a freed agent's pull
//!    ([`Internal::CallbackDue`]) routes it; the reservation path is the live calls' one.
//!    Nobody free → wait again; past `expires_at` → finished `expired`.
//! 3. Reserved → [`Op::CallAgent`] (`CreateCall` to the Teams agent) and a ring timeout
//!    (the policy's `agent_ring_timeout`). `CallConnected` → confirm the agent,
//!    [`Op::AddCustomer`] (the customer's number, our number as caller id). Declined, not
//!    answered (`CreateCallFailed`, the ring timeout) or gone → end that leg, release the
//!    agent with the cool-down, and route again excluding them (agents are tried until the
//!    request expires).
//! 4. The customer answers → talking; the call ends when either leaves (release with the
//!    agent's wrap-up) and the callback is finished `completed`. The customer does not
//!    answer / is busy (or no outcome comes within the ring timeout plus grace) → end the
//!    call, release the agent, and after `retry_after` start over from 2 — up to `attempts`
//!    calls, then finished `failed`.
//!
//! Events of an agent's call carry that call's own correlation id; the executor keys them
//! to this state. Events of an earlier leg are stale (their call connection is not the
//! current one).

use switchboard_events::{CallConnectionId, CreateCallFailed};

use super::super::callback::{CallbackCall, CallbackOutcome, CallbackRequest};
use super::*;

/// Retry of a route that found every eligible agent tried, or none eligible.
const CALLBACK_WAIT_RETRY: Duration = Duration::from_secs(15);

/// A new callback state for a stored request (Internal::CallbackStart with no state).
pub(super) fn new_callback(
    request: &CallbackRequest,
    input: &FlowInput,
    cfg: &FlowConfig,
    now: OffsetDateTime,
) -> Transition {
    let key = super::super::callback::callback_key(&request.correlation_id);
    let info = IncomingCallInfo {
        to: CommunicationIdentifier::phone(request.caller_id.clone()),
        from: CommunicationIdentifier::phone(request.number.clone()),
        caller_display_name: None,
        custom_context: CustomHeaders::default(),
    };
    let mut state = CallState::new(key, info, None, None, request.call.queue.clone(), now);
    state.waiting_since = Some(request.call.waiting_since);
    state.visited.push(request.call.queue.clone());
    state.callback = Some(CallbackCall::new(request.clone()));
    let mut cx = Cx::new(state, input, cfg, now);
    cx.decide(format!(
        "callback for {} in {} (waiting since {})",
        request.number, request.call.queue, request.call.waiting_since
    ));
    if now >= request.expires_at {
        cx.finish_callback(CallbackOutcome::Expired, "expired before it started");
    } else {
        cx.callback_route();
    }
    cx.finish(input.dedupe_key())
}

impl Cx<'_> {
    fn cb(&self) -> &CallbackCall {
        self.s.callback.as_ref().expect("callback state")
    }

    fn cb_mut(&mut self) -> &mut CallbackCall {
        self.s.callback.as_mut().expect("callback state")
    }

    /// Every input of a callback state.
    pub(super) fn on_callback_input(&mut self) -> Disposition {
        if matches!(self.s.phase, Phase::Ended { .. }) {
            return self.stale("callback already finished");
        }
        match &self.input.kind {
            InputKind::Internal(i) => self.on_callback_internal(i),
            InputKind::Acs(e) => {
                // An earlier leg's late event.
                let ccid = e.call_connection_id();
                if ccid.is_some() && ccid != self.s.call_connection_id.as_ref() {
                    return self.stale(format!("{} of an earlier leg", e.short_type()));
                }
                self.on_callback_event(e)
            }
        }
    }

    fn on_callback_internal(&mut self, i: &Internal) -> Disposition {
        match i {
            Internal::CallbackStart { .. } => self.stale("callback already started"),
            Internal::QueueRecheck { n } => match self.s.phase {
                Phase::Waiting { recheck } if recheck == *n => {
                    self.decide(format!("re-check {n}"));
                    self.callback_route();
                    Disposition::Applied
                }
                _ => self.stale(format!("re-check {n} superseded")),
            },
            Internal::CallbackDue => {
                if !matches!(self.s.phase, Phase::Waiting { .. }) {
                    return self.stale(format!("pulled while {}", self.s.phase.name()));
                }
                if self.cb().not_before.is_some_and(|t| self.now < t) {
                    return self.stale("pulled during the pause before the next customer call");
                }
                self.decide("an agent freed up");
                self.callback_route();
                Disposition::Applied
            }
            Internal::Routed {
                seq,
                reservation,
                detail,
            } => match self.s.phase {
                Phase::Routing { seq: current } if current == *seq => {
                    self.decide(format!("reserved agent {} ({detail})", reservation.agent));
                    self.call_agent(reservation.clone());
                    Disposition::Applied
                }
                _ => {
                    if self.s.reservation.as_ref() == Some(reservation) {
                        return self.stale(format!("route {seq} result already applied"));
                    }
                    self.decide(format!("route {seq} result is stale: releasing"));
                    self.release_stale_route(*seq, reservation)
                }
            },
            Internal::NoAgent {
                seq,
                retry_after_ms,
                detail,
            } => {
                if self.s.phase != (Phase::Routing { seq: *seq }) {
                    return self.stale(format!("route {seq} result is stale"));
                }
                let retry = Duration::from_millis(*retry_after_ms);
                self.decide(format!("nobody free ({detail})"));
                self.callback_wait(self.now + retry);
                Disposition::Applied
            }
            Internal::Overflow { seq, detail, .. } => {
                if self.s.phase != (Phase::Routing { seq: *seq }) {
                    return self.stale(format!("route {seq} result is stale"));
                }
                // A callback does not overflow: it waits for its agent until it expires.
                // Every agent tried (or none eligible now): start the round again later.
                self.decide(format!("no agent to offer ({detail}): waiting"));
                self.s.tried.clear();
                self.callback_wait(self.now + CALLBACK_WAIT_RETRY);
                Disposition::Applied
            }
            Internal::CallbackDialled {
                seq,
                call_connection_id,
            } => match self.s.phase {
                Phase::Ringing { seq: current, .. } if current == *seq => {
                    self.s.call_connection_id = Some(call_connection_id.clone());
                    self.decide(format!("agent call {call_connection_id} placed"));
                    Disposition::Applied
                }
                _ => {
                    // The offer was given up meanwhile: that call must not ring on.
                    self.decide(format!("agent call of offer {seq} placed late: ending it"));
                    self.end_leg(call_connection_id.clone());
                    Disposition::Applied
                }
            },
            Internal::RingTimeout { seq } => match self.s.phase.clone() {
                Phase::Ringing {
                    seq: current,
                    agent,
                    ..
                } if current == *seq => {
                    self.decide(format!("agent {agent} did not answer in time"));
                    self.agent_leg_failed(self.cfg.cooldowns.no_answer);
                    Disposition::Applied
                }
                _ => self.stale(format!("ring timeout {seq} superseded")),
            },
            Internal::CallbackCustomerOverdue { seq } => match self.s.phase {
                Phase::CallingCustomer { attempt, .. } if self.s.seq == *seq => {
                    self.customer_failed(attempt, "no outcome in time");
                    Disposition::Applied
                }
                _ => self.stale(format!("the customer of offer {seq} had an outcome")),
            },
            Internal::CommandFailed {
                command,
                gone,
                reason,
            } => self.on_callback_command_failed(command, *gone, reason),
            Internal::CommandUncertain { command, reason } => {
                self.ignore(format!("{} outcome unknown ({reason})", command.op.name()))
            }
            other => self.ignore(format!("{} has no use in a callback", other.type_name())),
        }
    }

    fn on_callback_event(&mut self, e: &AcsEvent) -> Disposition {
        match e {
            AcsEvent::CallConnected(_) => match self.s.phase.clone() {
                Phase::Ringing { agent, .. } => {
                    self.decide(format!("agent {agent} answered"));
                    if let Some(reservation) = self.s.reservation.clone() {
                        self.cmd("confirm", Op::Confirm { reservation });
                    }
                    self.answered_agent(agent);
                    Disposition::Applied
                }
                _ => self.stale(format!("CallConnected while {}", self.s.phase.name())),
            },
            AcsEvent::CreateCallFailed(f) => self.on_create_failed(f),
            AcsEvent::CallDisconnected(_) => match self.s.phase.clone() {
                Phase::Ringing { agent, .. } | Phase::CallingCustomer { agent, .. } => {
                    self.decide(format!(
                        "agent {agent}'s call ended before the customer joined"
                    ));
                    self.agent_leg_failed(self.cfg.cooldowns.other);
                    Disposition::Applied
                }
                Phase::Talking { .. } | Phase::Ending { .. } => {
                    self.decide("the callback call ended");
                    self.finish_callback(CallbackOutcome::Completed, "agent and customer talked");
                    Disposition::Applied
                }
                _ => self.stale(format!("CallDisconnected while {}", self.s.phase.name())),
            },
            AcsEvent::AddParticipantSucceeded(_) => match self.s.phase.clone() {
                Phase::CallingCustomer { attempt, agent } if self.customer_ctx(e, attempt) => {
                    self.decide(format!(
                        "customer {} answered (attempt {attempt})",
                        self.cb().request.number
                    ));
                    self.s.phase = Phase::Talking {
                        agent,
                        since: self.now,
                    };
                    Disposition::Applied
                }
                _ => self.stale("AddParticipantSucceeded of an older attempt"),
            },
            AcsEvent::AddParticipantFailed(a) => match self.s.phase.clone() {
                Phase::CallingCustomer { attempt, .. } if self.customer_ctx(e, attempt) => {
                    let why = describe_result(a.result_information.as_ref());
                    self.customer_failed(attempt, &why);
                    Disposition::Applied
                }
                _ => self.stale("AddParticipantFailed of an older attempt"),
            },
            AcsEvent::ParticipantsUpdated(p) => self.on_callback_participants(p),
            other => self.ignore(format!("{} needs no action", other.short_type())),
        }
    }

    fn customer_ctx(&self, e: &AcsEvent, attempt: u32) -> bool {
        ctx_of(e) == Some(OpCtx::CallbackCustomer { attempt })
    }

    fn on_create_failed(&mut self, f: &CreateCallFailed) -> Disposition {
        let Phase::Ringing { agent, .. } = self.s.phase.clone() else {
            return self.stale(format!("CreateCallFailed while {}", self.s.phase.name()));
        };
        let info = f.result_information.clone().unwrap_or_default();
        let c = &self.cfg.cooldowns;
        let (what, cooldown) = if info.is_forbidden() {
            ("may not be called (tenant policy)", c.policy)
        } else if info.is_timeout() {
            ("did not answer", c.no_answer)
        } else if info.is_declined() {
            ("declined", c.declined)
        } else if info.is_busy() {
            ("was busy", c.busy)
        } else {
            ("could not be called", c.other)
        };
        self.decide(format!(
            "agent {agent} {what} ({})",
            describe_result(Some(&info))
        ));
        // The failed call is over already: nothing to end.
        self.s.call_connection_id = None;
        self.agent_leg_failed(cooldown);
        Disposition::Applied
    }

    fn on_callback_participants(&mut self, p: &ParticipantsUpdated) -> Disposition {
        if let (Some(new), Some(old)) = (p.sequence_number, self.s.participants.sequence_number) {
            if new <= old {
                return self.stale(format!("participants #{new} older than #{old}"));
            }
        }
        if p.sequence_number.is_some() {
            self.s.participants.sequence_number = p.sequence_number;
        }
        let raw: Vec<String> = p
            .participants
            .iter()
            .map(|x| x.identifier.raw_id())
            .collect();
        self.s.participants.raw_ids = raw.clone();
        self.s.participants.updates += 1;
        // Applied (not ignored) even when nothing follows: the sequence number and who was
        // seen must be saved for the next update to be judged by.
        let Phase::Talking { agent, .. } = self.s.phase.clone() else {
            self.decide(format!("participants update while {}", self.s.phase.name()));
            return Disposition::Applied;
        };
        let customer = self.s.call.from.raw_id();
        let agent_raw = CommunicationIdentifier::teams_user(agent.as_str()).raw_id();
        let both = raw.contains(&customer) && raw.contains(&agent_raw);
        if both {
            self.cb_mut().both_seen = true;
            self.decide("agent and customer in the call");
            return Disposition::Applied;
        }
        if !self.cb().both_seen {
            self.decide("waiting for both parties in the participant list");
            return Disposition::Applied;
        }
        let who = if raw.contains(&customer) {
            "the agent"
        } else {
            "the customer"
        };
        self.decide(format!("{who} left the callback"));
        self.release_after_call();
        self.s.phase = Phase::Ending {
            reason: format!("{who} left"),
        };
        if let Some(cc) = self.s.call_connection_id.clone() {
            self.end_leg(cc);
        }
        Disposition::Applied
    }

    fn on_callback_command_failed(
        &mut self,
        command: &Command,
        gone: bool,
        reason: &str,
    ) -> Disposition {
        match (&command.op, self.s.phase.clone()) {
            (Op::Route { seq, .. }, Phase::Routing { seq: current }) if *seq == current => {
                self.decide(format!("routing failed ({reason})"));
                self.callback_wait(self.now + CALLBACK_WAIT_RETRY);
                Disposition::Applied
            }
            (Op::CallAgent { seq, agent, .. }, Phase::Ringing { seq: current, .. })
                if *seq == current =>
            {
                self.decide(format!("calling agent {agent} failed ({reason})"));
                self.s.call_connection_id = None;
                self.agent_leg_failed(self.cfg.cooldowns.other);
                Disposition::Applied
            }
            (Op::AddCustomer { .. }, Phase::CallingCustomer { attempt, .. }) => {
                let why = if gone {
                    format!("the agent's call is gone ({reason})")
                } else {
                    reason.to_owned()
                };
                self.customer_failed(attempt, &why);
                Disposition::Applied
            }
            (op, _) => self.ignore(format!("{} failed: {reason}", op.name())),
        }
    }

    /// Routes the callback: the same reservation path as a live call, but a callback waits
    /// past the queue's `max_wait` / `max_attempts` (it expires instead), so the engine sees
    /// it as just arrived.
    fn callback_route(&mut self) {
        if self.now >= self.cb().request.expires_at {
            self.finish_callback(CallbackOutcome::Expired, "no agent before it expired");
            return;
        }
        self.cb_mut().not_before = None;
        self.s.seq += 1;
        let seq = self.s.seq;
        self.s.phase = Phase::Routing { seq };
        let mut call = self.requirements();
        call.call_id = self.cb().request.correlation_id.clone();
        call.waiting_since = self.now;
        call.attempts = 0;
        self.cmd(
            format!("route:{seq}"),
            Op::Route {
                seq,
                call,
                excluded: self.s.tried.clone(),
            },
        );
    }

    /// Waits (re-check at `at`, or sooner when a freed agent pulls the request).
    fn callback_wait(&mut self, at: OffsetDateTime) {
        let expires = self.cb().request.expires_at;
        self.s.rechecks += 1;
        let n = self.s.rechecks;
        self.s.phase = Phase::Waiting { recheck: n };
        self.schedule_timer(
            &format!("recheck:{n}"),
            Internal::QueueRecheck { n },
            at.min(expires),
        );
    }

    fn call_agent(&mut self, reservation: switchboard_store::Reservation) {
        let seq = self.s.seq;
        let agent = reservation.agent.clone();
        self.s.tried.push(agent.clone());
        if !self.s.invited.contains(&agent) {
            self.s.invited.push(agent.clone());
        }
        self.s.reservation = Some(reservation);
        self.s.call_connection_id = None;
        self.s.participants = Default::default();
        self.cb_mut().both_seen = false;
        self.s.phase = Phase::Ringing {
            seq,
            agent: agent.clone(),
            invitation: None,
            since: self.now,
        };
        self.cmd(
            format!("call-agent:{seq}"),
            Op::CallAgent {
                seq,
                agent,
                operation_context: OpCtx::CallbackAgent { seq }.to_string(),
            },
        );
        let ring = Duration::from_secs(u64::from(self.cb().request.agent_ring_timeout_secs));
        let at = self.now + ring + self.cfg.ring_grace;
        self.schedule_timer(
            &format!("ring-timeout:{seq}"),
            Internal::RingTimeout { seq },
            at,
        );
    }

    fn answered_agent(&mut self, agent: TeamsUserId) {
        let cb = self.cb_mut();
        cb.attempts += 1;
        let attempt = cb.attempts;
        let r = cb.request.clone();
        self.s.answered_by = Some(agent.clone());
        self.s.phase = Phase::CallingCustomer { attempt, agent };
        self.cmd(
            format!("add-customer:{attempt}"),
            Op::AddCustomer {
                number: r.number,
                caller_id: r.caller_id,
                invitation_timeout_secs: r.customer_ring_timeout_secs.max(1),
                operation_context: OpCtx::CallbackCustomer { attempt }.to_string(),
            },
        );
        let ring = Duration::from_secs(u64::from(r.customer_ring_timeout_secs.max(1)));
        let at = self.now + ring + self.cfg.ring_grace;
        let seq = self.s.seq;
        self.schedule_timer(
            &format!("customer-overdue:{seq}"),
            Internal::CallbackCustomerOverdue { seq },
            at,
        );
    }

    /// The agent's leg failed: end it if it is up, release the agent with `cooldown`, and
    /// try the next agent.
    fn agent_leg_failed(&mut self, cooldown: Duration) {
        self.cb_mut().agent_failures += 1;
        if let Some(cc) = self.s.call_connection_id.take() {
            self.end_leg(cc);
        }
        // A customer attempt in progress does not count: the agent went, not the customer.
        if let Phase::CallingCustomer { .. } = self.s.phase {
            let cb = self.cb_mut();
            cb.attempts = cb.attempts.saturating_sub(1);
        }
        self.s.answered_by = None;
        self.release(cooldown);
        self.callback_route();
    }

    /// The customer did not answer (or was busy, or could not be added) on `attempt`.
    fn customer_failed(&mut self, attempt: u32, why: &str) {
        let r = self.cb().request.clone();
        if let Some(cc) = self.s.call_connection_id.take() {
            self.end_leg(cc);
        }
        // The agent did nothing wrong: free at once.
        self.release(Duration::ZERO);
        self.s.answered_by = None;
        if attempt >= r.attempts {
            self.decide(format!(
                "customer {} not reached ({why}); attempt {attempt} of {}",
                r.number, r.attempts
            ));
            self.finish_callback(
                CallbackOutcome::Failed,
                &format!("customer not reached in {attempt} attempts (last: {why})"),
            );
            return;
        }
        let at = self.now + Duration::from_secs(r.retry_after_secs);
        self.decide(format!(
            "customer {} not reached ({why}); attempt {attempt} of {}, next in {} s",
            r.number, r.attempts, r.retry_after_secs
        ));
        self.s.tried.clear();
        self.cb_mut().not_before = Some(at);
        self.callback_wait(at);
    }

    /// A timer whose id is the callback's key and `action` (unique: numbered by a counter
    /// of the state), not the input's id: a callback can wait for hours, and ids that grow
    /// with every re-check (as derived ids do) would grow without bound.
    fn schedule_timer(&mut self, action: &str, input: Internal, at: OffsetDateTime) {
        let id = format!("{}/{action}", self.s.correlation_id);
        self.cmd(format!("schedule:{action}"), Op::Schedule { id, input, at });
    }

    fn end_leg(&mut self, call_connection_id: CallConnectionId) {
        let cb = self.cb_mut();
        if !cb.old_legs.contains(&call_connection_id) {
            cb.old_legs.push(call_connection_id.clone());
        }
        self.cmd(
            format!("end-leg:{call_connection_id}"),
            Op::EndLeg { call_connection_id },
        );
    }

    /// The callback is over: report it and archive the state.
    pub(super) fn finish_callback(&mut self, outcome: CallbackOutcome, detail: &str) {
        self.release_after_call();
        if let Some(cc) = self.s.call_connection_id.take() {
            if outcome != CallbackOutcome::Completed {
                self.end_leg(cc);
            }
        }
        let cb = self.cb_mut();
        cb.outcome = Some(outcome);
        cb.detail = Some(detail.to_owned());
        let callback = Box::new(cb.clone());
        self.decide(format!("callback {}: {detail}", outcome.as_str()));
        self.cmd("finish-callback", Op::FinishCallback { callback });
        self.s.phase = Phase::Ended {
            reason: format!("callback {}: {detail}", outcome.as_str()),
        };
        self.s.ended_at = Some(self.now);
        self.cmd("archive", Op::Archive);
    }
}
