//! The call is connected: the entry queue's IVR menu (DTMF), its retries and fallback.

use super::*;

impl Cx<'_> {
    pub(super) fn on_connected(&mut self) -> Disposition {
        if self.s.phase != Phase::Answering {
            return self.stale(format!("CallConnected in phase {}", self.s.phase.name()));
        }
        // The context is single-use and no longer needed once answered.
        self.s.incoming_call_context = None;
        let queue = self.s.queue.clone();
        let menu = self.queue_cfg().and_then(|q| q.ivr.clone());
        match menu {
            Some(_) if self.s.ivr.choice.is_none() && self.s.ivr.tries == 0 => {
                if let Some(why) = self.ivr_blocked() {
                    self.s.ivr.skipped = Some(why.clone());
                    self.decide(format!("connected; IVR skipped: {why}"));
                    let fallback = self.ivr_fallback();
                    self.enter_queue(fallback);
                } else {
                    self.decide(format!("connected; IVR menu of queue {queue}"));
                    self.start_ivr(1);
                }
            }
            _ => {
                self.decide("connected");
                self.enter_queue(queue);
            }
        }
        Disposition::Applied
    }

    /// Recognize is unsupported while a Teams user is in the call.
    pub(super) fn ivr_blocked(&self) -> Option<String> {
        if self.s.caller().kind() == "microsoftTeamsUser" {
            return Some("the caller is a Teams user (recognize unsupported)".into());
        }
        if self.s.participants.has_teams_user() {
            return Some("a Teams user is in the call (recognize unsupported)".into());
        }
        None
    }

    pub(super) fn ivr_fallback(&self) -> QueueName {
        self.cfg
            .queue(self.s.entry_queue.as_str())
            .and_then(|q| q.ivr.as_ref())
            .and_then(|m| m.fallback.clone())
            .unwrap_or_else(|| self.s.entry_queue.clone())
    }

    pub(super) fn start_ivr(&mut self, try_no: u32) {
        let Some(menu) = self
            .cfg
            .queue(self.s.entry_queue.as_str())
            .and_then(|q| q.ivr.clone())
        else {
            let q = self.s.entry_queue.clone();
            self.enter_queue(q);
            return;
        };
        let max_tones = menu
            .options
            .keys()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(1)
            .max(1);
        self.s.ivr.tries = try_no;
        self.s.phase = Phase::Triage { try_no };
        let target = self.s.caller().clone();
        self.cmd(
            format!("recognize:{try_no}"),
            Op::Recognize {
                prompt: menu.prompt.clone(),
                target,
                max_tones: u32::try_from(max_tones).unwrap_or(1),
                initial_silence_timeout_secs: secs_u32(menu.timeout).max(1),
                operation_context: OpCtx::Ivr { try_no }.to_string(),
            },
        );
    }

    pub(super) fn on_recognized(&mut self, r: &RecognizeCompleted) -> Disposition {
        let Phase::Triage { try_no } = self.s.phase else {
            return self.stale("RecognizeCompleted outside the IVR");
        };
        if let Some(OpCtx::Ivr { try_no: t }) = opctx(r.operation_context.as_ref()) {
            if t != try_no {
                return self.stale(format!("RecognizeCompleted for menu try {t}, now {try_no}"));
            }
        }
        let digits = r
            .dtmf_result
            .as_ref()
            .map(|d| d.digits())
            .filter(|d| !d.is_empty())
            .or_else(|| r.choice_result.as_ref().and_then(|c| c.label.clone()));
        let Some(choice) = digits else {
            return self.on_recognize_failed(None, "no input");
        };
        let queue = classify(&self.s.call, Some(&choice), &self.cfg.routing);
        let menu = self
            .cfg
            .queue(self.s.entry_queue.as_str())
            .and_then(|q| q.ivr.clone());
        let unknown = queue == self.s.entry_queue
            && menu
                .as_ref()
                .is_some_and(|m| !m.options.contains_key(&choice));
        let max_tries = menu.as_ref().map_or(1, |m| m.max_tries.max(1));
        if unknown && try_no < max_tries {
            self.decide(format!("IVR: unknown choice {choice:?}, menu again"));
            self.start_ivr(try_no + 1);
            return Disposition::Applied;
        }
        self.s.ivr.choice = Some(choice.clone());
        self.decide(format!("IVR: caller chose {choice:?}: queue {queue}"));
        self.enter_queue(queue);
        Disposition::Applied
    }

    pub(super) fn on_recognize_failed(&mut self, ctx: Option<OpCtx>, why: &str) -> Disposition {
        let Phase::Triage { try_no } = self.s.phase else {
            return self.stale(format!("recognize {why} outside the IVR"));
        };
        if let Some(OpCtx::Ivr { try_no: t }) = ctx {
            if t != try_no {
                return self.stale(format!("recognize {why} for menu try {t}, now {try_no}"));
            }
        }
        let max_tries = self
            .cfg
            .queue(self.s.entry_queue.as_str())
            .and_then(|q| q.ivr.as_ref())
            .map_or(1, |m| m.max_tries.max(1));
        if try_no < max_tries {
            self.decide(format!("IVR: {why}, menu again (try {})", try_no + 1));
            self.start_ivr(try_no + 1);
        } else {
            let fallback = self.ivr_fallback();
            self.decide(format!("IVR: {why} after {try_no} tries: queue {fallback}"));
            self.enter_queue(fallback);
        }
        Disposition::Applied
    }
}
