//! Answering and queueing: answer, enter a queue (recording, announcement, hold music), route,
//! offer the reserved agent (or redirect to them in a direct queue), overflow.

use super::*;

impl Cx<'_> {
    pub(super) fn answer(&mut self) {
        let Some(context) = self.s.incoming_call_context.clone() else {
            self.decide("cannot answer: no incoming call context");
            self.end_now("no incoming call context".into());
            return;
        };
        self.s.phase = Phase::Answering;
        self.cmd(
            "answer",
            Op::Answer {
                incoming_call_context: context,
                operation_context: OpCtx::Answer.to_string(),
                cognitive_services_endpoint: self.cfg.cognitive_services_endpoint.clone(),
            },
        );
    }

    /// Puts the call into `queue`: recording, announcement, hold music, then routing.
    pub(super) fn enter_queue(&mut self, queue: QueueName) {
        let queue = if self.cfg.routing.queue(queue.as_str()).is_some() {
            queue
        } else {
            self.cfg.routing.default_queue.clone()
        };
        if self.s.visited.len() >= MAX_QUEUE_VISITS {
            self.decide(format!("visited {MAX_QUEUE_VISITS} queues: giving up"));
            self.hang_up("too many queues");
            return;
        }
        self.s.visited.push(queue.clone());
        self.s.queue = queue.clone();
        self.s.waiting_since = Some(self.now);
        // A new queue has its own announcements; the old queue's timer goes stale.
        self.s.wait.scheduled = false;
        self.s.attempts = 0;
        self.s.tried.clear();
        let Some(q) = self.cfg.queue(queue.as_str()) else {
            self.decide(format!("queue {queue} is not configured: hanging up"));
            self.hang_up("no queue");
            return;
        };
        self.decide(format!("queue {queue}"));
        if let Some(target) = q.transfer_to.clone() {
            // A queue that hands its calls to a Teams user / voice app or a number: a blind
            // transfer, no agents of ours, nothing to play or record.
            let target = OverflowTarget::from(target);
            self.decide(format!(
                "queue {queue} transfers its calls to {}",
                target.describe()
            ));
            self.overflow(target);
            return;
        }
        if q.recording && !self.s.recording.requested {
            self.s.recording.requested = true;
            self.cmd("start-recording", Op::StartRecording);
        }
        // Looped hold music from a previous queue would block everything queued after it.
        if self.s.media.hold.take().is_some() {
            self.cmd("cancel-media", Op::CancelMedia);
        }
        if let Some(a) = q.announcement.clone() {
            self.s.media.plays += 1;
            let n = self.s.media.plays;
            self.cmd(
                format!("play:announce:{n}"),
                Op::Play {
                    source: a.source,
                    loop_playback: a.loop_playback,
                    play_to: None,
                    interrupt: false,
                    operation_context: OpCtx::Announce { n }.to_string(),
                },
            );
        }
        self.start_hold_music();
        self.route(false);
    }

    pub(super) fn start_hold_music(&mut self) {
        let Some(music) = self.queue_cfg().and_then(|q| q.hold_music.clone()) else {
            return;
        };
        self.s.media.plays += 1;
        let n = self.s.media.plays;
        self.s.media.hold = Some(n);
        self.cmd(
            format!("play:hold:{n}"),
            Op::Play {
                source: music.source,
                loop_playback: music.loop_playback,
                play_to: None,
                interrupt: false,
                operation_context: OpCtx::Hold { n }.to_string(),
            },
        );
    }

    /// Asks the routing engine for the next offer.
    pub(super) fn route(&mut self, direct: bool) {
        self.s.seq += 1;
        let seq = self.s.seq;
        self.s.phase = if direct {
            Phase::DirectRouting { seq }
        } else {
            Phase::Routing { seq }
        };
        let call = self.requirements();
        self.cmd(
            format!("route:{seq}"),
            Op::Route {
                seq,
                call,
                excluded: self.s.tried.clone(),
            },
        );
    }

    /// What the routing engine needs to know about this call now.
    pub(super) fn requirements(&self) -> CallRequirements {
        let mut call = CallRequirements::new(
            self.s.correlation_id.clone(),
            self.s.queue.clone(),
            self.s.waiting_since.unwrap_or(self.now),
        );
        call.attempts = self.s.attempts;
        call
    }

    /// Rings the reserved agent.
    pub(super) fn offer(&mut self, reservation: switchboard_store::Reservation) {
        let seq = self.s.seq;
        let agent = reservation.agent.clone();
        let ring = self
            .queue_cfg()
            .map_or(Duration::from_secs(20), |q| q.ring_timeout);
        self.s.attempts += 1;
        self.s.tried.push(agent.clone());
        if !self.s.invited.contains(&agent) {
            self.s.invited.push(agent.clone());
        }
        self.s.reservation = Some(reservation);
        self.s.participants.agent_seen = None;
        // No "press 1" prompt once an agent rings (and none with a Teams user in the call).
        self.withdraw_callback_offer();
        self.s.phase = Phase::Ringing {
            seq,
            agent: agent.clone(),
            invitation: None,
            since: self.now,
        };
        self.cmd(
            format!("add:{seq}"),
            Op::AddParticipant {
                agent: agent.clone(),
                invitation_timeout_secs: secs_u32(ring).max(1),
                operation_context: OpCtx::Add { seq, agent }.to_string(),
                seq,
            },
        );
        let at = self.now + ring + self.cfg.ring_grace;
        self.schedule(
            &format!("ring-timeout:{seq}"),
            Internal::RingTimeout { seq },
            at,
        );
    }

    pub(super) fn redirect_to_agent(&mut self, reservation: switchboard_store::Reservation) {
        let Some(context) = self.s.incoming_call_context.clone() else {
            self.decide("cannot redirect: no incoming call context");
            self.cmd(
                "release",
                Op::Release {
                    reservation,
                    wrap_up_secs: 0,
                    reason: None,
                },
            );
            self.end_now("no incoming call context".into());
            return;
        };
        let agent = reservation.agent.clone();
        // A redirected call is never ours again: no callback tells us when it ends. Hold the
        // agent back for one ring period so the next call does not ring them at once; Graph
        // presence covers the rest.
        let ring = self
            .queue_cfg()
            .map_or(Duration::from_secs(20), |q| q.ring_timeout);
        self.s.invited.push(agent.clone());
        self.s.answered_by = Some(agent.clone());
        self.cmd(
            "redirect",
            Op::Redirect {
                incoming_call_context: context,
                target: CommunicationIdentifier::teams_user(agent.as_str()),
            },
        );
        self.cmd(
            "release",
            Op::Release {
                reservation,
                wrap_up_secs: ring.as_secs(),
                reason: None,
            },
        );
        self.end_now(format!("redirected to agent {agent}"));
    }

    pub(super) fn direct_overflow(&mut self, target: OverflowTarget) {
        let Some(context) = self.s.incoming_call_context.clone() else {
            self.end_now("no incoming call context".into());
            return;
        };
        match target {
            OverflowTarget::Phone { number } => {
                self.cmd(
                    "redirect",
                    Op::Redirect {
                        incoming_call_context: context,
                        target: CommunicationIdentifier::phone(number.clone()),
                    },
                );
                self.end_now(format!("redirected to {number}"));
            }
            OverflowTarget::TeamsUser { oid } => {
                self.cmd(
                    "redirect",
                    Op::Redirect {
                        incoming_call_context: context,
                        target: CommunicationIdentifier::teams_user(oid.as_str()),
                    },
                );
                self.end_now(format!("redirected to Teams user {oid}"));
            }
            OverflowTarget::TeamsApp { app_id } => {
                self.cmd(
                    "redirect",
                    Op::Redirect {
                        incoming_call_context: context,
                        target: CommunicationIdentifier::MicrosoftTeamsApp {
                            app_id: app_id.clone(),
                            cloud: Default::default(),
                        },
                    },
                );
                self.end_now(format!("redirected to Teams voice app {app_id}"));
            }
            OverflowTarget::Hangup => {
                self.cmd(
                    "reject",
                    Op::Reject {
                        incoming_call_context: context,
                    },
                );
                self.end_now("rejected: nobody to take it".into());
            }
            OverflowTarget::Queue { queue } => {
                self.s.entry_queue = queue.clone();
                self.s.queue = queue;
                self.answer();
            }
            // Announcements and voicemail need the call answered; the answered queue's own
            // routing reaches the same overflow and plays them.
            OverflowTarget::Announcement { .. } | OverflowTarget::Voicemail { .. } => {
                self.answer();
            }
        }
    }

    pub(super) fn overflow(&mut self, target: OverflowTarget) {
        match target {
            OverflowTarget::Phone { number } => {
                self.stop_media();
                self.transfer(CommunicationIdentifier::phone(number));
            }
            OverflowTarget::TeamsUser { oid } => {
                self.stop_media();
                self.transfer(CommunicationIdentifier::teams_user(oid.as_str()));
            }
            OverflowTarget::TeamsApp { app_id } => {
                self.stop_media();
                self.transfer(CommunicationIdentifier::MicrosoftTeamsApp {
                    app_id,
                    cloud: Default::default(),
                });
            }
            OverflowTarget::Queue { queue } => {
                if self.s.visited.contains(&queue) {
                    self.decide(format!("overflow queue {queue} already visited"));
                    self.hang_up("overflow loop");
                } else {
                    self.enter_queue(queue);
                }
            }
            OverflowTarget::Announcement { source } => {
                self.stop_media();
                self.s.phase = Phase::OverflowAnnouncement;
                self.cmd(
                    "play:overflow",
                    Op::Play {
                        source,
                        loop_playback: false,
                        play_to: None,
                        interrupt: false,
                        operation_context: OpCtx::OverflowAnnouncement.to_string(),
                    },
                );
            }
            OverflowTarget::Voicemail {
                greeting,
                max_duration,
            } => {
                self.stop_media();
                self.s.phase = Phase::VoicemailGreeting {
                    max_duration_secs: max_duration.as_secs(),
                };
                self.cmd(
                    "play:voicemail",
                    Op::Play {
                        source: greeting,
                        loop_playback: false,
                        play_to: None,
                        interrupt: false,
                        operation_context: OpCtx::VoicemailGreeting.to_string(),
                    },
                );
            }
            OverflowTarget::Hangup => self.hang_up("overflow: hang up"),
        }
    }
}
