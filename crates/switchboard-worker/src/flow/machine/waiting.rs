//! While the caller waits: position / estimated-wait announcements and the virtual-hold
//! callback offer. The numbers come from the executor ([`Internal::WaitStatus`], read from the
//! shared store), so `step` stays pure and every replica announces the same place.

use switchboard_routing::queue::PlaySource;

use super::super::callback::CallbackRequest;
use super::*;

impl Cx<'_> {
    /// Starts the wait-status timer when the call starts waiting in a queue that announces
    /// or offers callbacks (once per queue: later waits in the same queue keep it).
    pub(super) fn start_wait_status(&mut self) {
        if self.s.wait.scheduled {
            return;
        }
        let Some(q) = self.queue_cfg() else { return };
        let first = match (&q.announcements, &q.callback) {
            (Some(a), _) => a.first_after,
            (None, Some(c)) => c.check_every,
            (None, None) => return,
        };
        let since = self.s.waiting_since.unwrap_or(self.now);
        let at = (since + first).max(self.now);
        self.s.wait.scheduled = true;
        self.schedule_wait_status(at);
    }

    fn schedule_wait_status(&mut self, at: OffsetDateTime) {
        self.s.wait.status += 1;
        let n = self.s.wait.status;
        self.schedule(
            &format!("wait-status:{n}"),
            Internal::WaitStatusDue { n },
            at,
        );
    }

    /// The next wait status, one period from now, if the call still waits.
    fn next_wait_status(&mut self) {
        match self.queue_cfg().and_then(|q| q.wait_status_every()) {
            Some(every) if self.s.phase.is_queued() => {
                let at = self.now + every;
                self.schedule_wait_status(at);
            }
            _ => self.s.wait.scheduled = false,
        }
    }

    pub(super) fn on_wait_status_due(&mut self, n: u32) -> Disposition {
        if n != self.s.wait.status || !self.s.wait.scheduled {
            return self.stale(format!("wait status {n} superseded"));
        }
        if !self.s.phase.is_queued() {
            self.s.wait.scheduled = false;
            self.decide(format!(
                "wait status {n}: no longer waiting ({})",
                self.s.phase.name()
            ));
            return Disposition::Applied;
        }
        self.decide(format!("wait status {n}: reading position"));
        let call = self.requirements();
        self.cmd(format!("wait-status:{n}"), Op::QueryWaitStatus { n, call });
        Disposition::Applied
    }

    /// A failed status read does not end the announcements: the next period tries again.
    pub(super) fn on_wait_status_failed(&mut self, n: u32, reason: &str) -> Disposition {
        if n != self.s.wait.status {
            return self.stale(format!("wait status {n} failed but is stale"));
        }
        self.decide(format!("wait status {n} could not be read ({reason})"));
        self.next_wait_status();
        Disposition::Applied
    }

    pub(super) fn on_wait_status(
        &mut self,
        n: u32,
        position: u32,
        estimated_wait: Duration,
    ) -> Disposition {
        if n != self.s.wait.status {
            return self.stale(format!("wait status {n} is stale"));
        }
        self.next_wait_status();
        let est = estimated_wait.as_secs();
        if !matches!(self.s.phase, Phase::Waiting { .. } | Phase::Routing { .. }) {
            // Ringing an agent (or leaving): nothing to announce now.
            self.decide(format!(
                "position {position}, about {est} s: not announced ({})",
                self.s.phase.name()
            ));
            return Disposition::Applied;
        }
        if let Some(until) = self.s.wait.offering_until {
            if self.now < until {
                self.decide(format!(
                    "position {position}, about {est} s: callback offer in progress"
                ));
                return Disposition::Applied;
            }
            // The offer's outcome never came (its request was lost): give up on it.
            self.s.wait.offering = None;
            self.s.wait.offering_until = None;
            self.decide("callback offer had no outcome: given up");
        }
        if self.s.recording.playing.is_some() {
            self.decide(format!(
                "position {position}, about {est} s: the recording notice is playing"
            ));
            return Disposition::Applied;
        }
        if let Some(why) = self.callback_offer_blocked(estimated_wait) {
            if let Some(a) = self.queue_cfg().and_then(|q| q.announcements.clone()) {
                self.decide(format!("announcing position {position}, about {est} s"));
                self.announce(a.sources(position, estimated_wait));
            } else {
                self.decide(format!("position {position}, about {est} s: {why}"));
            }
            return Disposition::Applied;
        }
        self.offer_callback(n, position, est);
        Disposition::Applied
    }

    /// Why the callback is not offered now (`None`: offer it).
    fn callback_offer_blocked(&self, estimated_wait: Duration) -> Option<&'static str> {
        let Some(c) = self.queue_cfg().and_then(|q| q.callback.as_ref()) else {
            return Some("no callback in this queue");
        };
        if self.s.wait.callback_offered {
            return Some("callback already offered");
        }
        if estimated_wait < c.offer_after {
            return Some("wait below the callback threshold");
        }
        if self.caller_number().is_none() {
            return Some("the caller has no phone number to call back");
        }
        // Recognize is unsupported while a Teams user is in the call.
        if self.ivr_blocked().is_some() {
            return Some("a Teams user is in the call");
        }
        None
    }

    /// The caller's E.164 number, if they called from a phone.
    fn caller_number(&self) -> Option<String> {
        match self.s.caller() {
            CommunicationIdentifier::PhoneNumber {
                value,
                is_anonymous: false,
                ..
            } => Some(value.clone()),
            _ => None,
        }
    }

    /// Plays the announcement over hold music (interrupting it) and queues hold music again
    /// behind it.
    fn announce(&mut self, sources: Vec<PlaySource>) {
        let interrupt = self.s.media.hold.take().is_some();
        self.s.wait.announcements += 1;
        for (i, source) in sources.into_iter().enumerate() {
            self.s.media.plays += 1;
            let n = self.s.media.plays;
            self.cmd(
                format!("play:position:{n}"),
                Op::Play {
                    source,
                    loop_playback: false,
                    play_to: None,
                    interrupt: interrupt && i == 0,
                    operation_context: OpCtx::Position { n }.to_string(),
                },
            );
        }
        self.start_hold_music();
    }

    fn offer_callback(&mut self, n: u32, position: u32, est: u64) {
        let Some(c) = self.queue_cfg().and_then(|q| q.callback.clone()) else {
            return;
        };
        self.decide(format!(
            "position {position}, about {est} s: offering a callback"
        ));
        // Recognize would queue behind looped hold music: stop it first.
        self.stop_media();
        self.s.wait.callback_offered = true;
        self.s.wait.offering = Some(n);
        self.s.wait.offering_until =
            Some(self.now + c.timeout + Duration::from_secs(5) + self.cfg.media_grace);
        let target = self.s.caller().clone();
        self.cmd(
            format!("recognize:callback:{n}"),
            Op::Recognize {
                prompt: c.prompt,
                target,
                max_tones: 1,
                initial_silence_timeout_secs: secs_u32(c.timeout).max(1),
                operation_context: OpCtx::CallbackOffer { n }.to_string(),
            },
        );
    }

    /// Withdraws a callback offer in progress (an agent was reserved meanwhile).
    pub(super) fn withdraw_callback_offer(&mut self) {
        if self.s.wait.offering.take().is_some() {
            self.s.wait.offering_until = None;
            self.cmd("cancel-media:callback", Op::CancelMedia);
            self.start_hold_music();
        }
    }

    /// The caller answered the offer (`digits`), or did not (`None`, with why).
    pub(super) fn on_callback_reply(
        &mut self,
        n: u32,
        digits: Option<String>,
        why: &str,
    ) -> Disposition {
        if self.s.wait.offering != Some(n) {
            return self.stale(format!("callback offer {n} reply ({why}) is stale"));
        }
        self.s.wait.offering = None;
        self.s.wait.offering_until = None;
        let Some(c) = self.queue_cfg().and_then(|q| q.callback.clone()) else {
            return self.ignore("callback reply in a queue without callbacks");
        };
        let accepted = digits.as_deref() == Some(c.digit.as_str());
        if !accepted || !matches!(self.s.phase, Phase::Waiting { .. } | Phase::Routing { .. }) {
            self.decide(format!(
                "callback offer {n}: {} — keeps waiting",
                digits.map_or_else(|| why.to_owned(), |d| format!("pressed {d:?}"))
            ));
            self.start_hold_music();
            return Disposition::Applied;
        }
        let (Some(number), Some(waiting_since)) = (self.caller_number(), self.s.waiting_since)
        else {
            self.start_hold_music();
            return self.ignore("callback accepted without a number or a wait");
        };
        let caller_id = match &self.s.call.to {
            CommunicationIdentifier::PhoneNumber { value, .. } => value.clone(),
            other => other.raw_id(),
        };
        let mut call = self.requirements();
        call.waiting_since = waiting_since;
        let request = CallbackRequest {
            correlation_id: self.s.correlation_id.clone(),
            call,
            number: number.clone(),
            caller_id,
            requested_at: self.now,
            expires_at: self.now + c.expire_after,
            attempts: c.attempts,
            retry_after_secs: c.retry_after.as_secs(),
            agent_ring_timeout_secs: secs_u32(c.agent_ring_timeout),
            customer_ring_timeout_secs: secs_u32(c.customer_ring_timeout),
        };
        self.decide(format!(
            "callback accepted: {number} keeps their place in {}",
            self.s.queue
        ));
        self.s.wait.callback_requested = true;
        self.s.wait.scheduled = false;
        self.cmd("request-callback", Op::RequestCallback { request });
        self.s.phase = Phase::CallbackAccepted;
        self.cmd(
            "play:callback-confirm",
            Op::Play {
                source: c.confirmation,
                loop_playback: false,
                play_to: None,
                interrupt: false,
                operation_context: OpCtx::CallbackConfirm.to_string(),
            },
        );
        Disposition::Applied
    }

    /// The confirmation ended (played or not): the call ends, the request stands.
    pub(super) fn on_callback_confirm_ended(&mut self, how: &str) -> Disposition {
        if self.s.phase != Phase::CallbackAccepted {
            return self.stale(format!(
                "callback confirmation {how} in phase {}",
                self.s.phase.name()
            ));
        }
        self.decide(format!("callback confirmation {how}"));
        self.hang_up("callback requested");
        Disposition::Applied
    }
}
