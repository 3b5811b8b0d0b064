//! Call Automation: one flow command → one request. [`Calls::execute`] picks the function
//! for the command's operation; each lives with its kind of operation:
//! - [`incoming`]: answer, redirect, reject (a call not answered yet);
//! - [`participants`]: add (invite an agent), cancel add, remove;
//! - [`media`]: play, cancel media, recognize (DTMF), recording (start paused, pause,
//!   resume, stop), stop transcription;
//! - [`connection`]: transfer, hang up;
//! - [`outbound`]: a callback's calls (call the agent, add the customer, end a leg);
//! - [`late`]: a repeatable command decided longer ago than the service remembers it is
//!   reconciled with the call before anything is sent again.
//!
//! Requests carry `Repeatability-Request-ID`/`First-Sent` derived from the command's
//! [`RepeatKey`](crate::flow::RepeatKey), so running a command again has one effect at ACS.
//! Errors are classified here ([`CmdError`]): transient (retry the message), permanent (the
//! flow decides), gone (the call no longer exists).

pub(crate) mod alias;
mod connection;
mod incoming;
mod late;
mod media;
mod outbound;
mod participants;

use std::sync::Arc;
use std::time::Duration;

use switchboard_callautomation::{
    CallAutomationClient, Error as CaError, Repeatability, RequestOptions,
};
use switchboard_events::{CallConnectionId, CorrelationId};
use switchboard_queue::QueueError;
use switchboard_routing::queue::PlaySource;
use switchboard_store::{Clock, Store, StoreError};

use crate::flow::{CallState, Command, FlowInput, Op};

/// Failure of one command, classified.
#[derive(Debug)]
pub(crate) enum CmdError {
    Transient(String),
    Permanent(String),
    Gone(String),
}

impl From<StoreError> for CmdError {
    fn from(e: StoreError) -> Self {
        if e.is_retryable() {
            Self::Transient(e.to_string())
        } else {
            Self::Permanent(e.to_string())
        }
    }
}

impl From<QueueError> for CmdError {
    fn from(e: QueueError) -> Self {
        if e.is_retryable() {
            Self::Transient(e.to_string())
        } else {
            Self::Permanent(e.to_string())
        }
    }
}

impl From<CaError> for CmdError {
    fn from(e: CaError) -> Self {
        if e.is_call_not_found() {
            Self::Gone(e.to_string())
        } else if e.is_retryable() || e.status() == Some(409) {
            // 409: "the original request with this Repeatability-Request-ID is still in
            // progress" — asking again later returns that request's result.
            Self::Transient(e.to_string())
        } else {
            Self::Permanent(e.to_string())
        }
    }
}

/// What a successful command produced.
pub(crate) enum Effect {
    Done(String),
    /// A media operation that may or may not have taken effect; never sent again.
    Uncertain(String),
    Feedback(Box<FlowInput>, String),
    Archived,
}

/// The Call Automation side of the executor.
pub(crate) struct Calls {
    client: Arc<CallAutomationClient>,
    /// Media markers ([`Calls::fenced`]).
    store: Arc<dyn Store>,
    /// The ingress's public `…/api/callbacks` URL.
    callback_url: String,
    /// Name the agent sees on an invitation.
    source_display_name: String,
    marker_ttl: Duration,
    /// Tells how old a command is ([`late`]).
    clock: Arc<dyn Clock>,
}

impl Calls {
    pub(crate) fn new(
        client: Arc<CallAutomationClient>,
        store: Arc<dyn Store>,
        callback_url: String,
        source_display_name: String,
        marker_ttl: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            client,
            store,
            callback_url,
            source_display_name,
            marker_ttl,
            clock,
        }
    }

    /// Runs one Call Automation command ([`Op::is_call_automation`]).
    pub(crate) async fn execute(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        if self.is_late(cmd) {
            if let Some(settled) = self.reconcile_late(state, cmd).await {
                return settled;
            }
        }
        match &cmd.op {
            Op::Answer { .. } => self.answer(key, state, cmd).await,
            Op::Redirect { .. } => self.redirect(key, state, cmd).await,
            Op::Reject { .. } => self.reject(key, state, cmd).await,
            Op::AddParticipant { .. } => self.add_participant(key, state, cmd).await,
            Op::CancelAddParticipant { .. } => self.cancel_add_participant(key, state, cmd).await,
            Op::RemoveParticipant { .. } => self.remove_participant(key, state, cmd).await,
            Op::Play { .. } => self.play(key, state, cmd).await,
            Op::CancelMedia => self.cancel_media(key, state, cmd).await,
            Op::Recognize { .. } => self.recognize(key, state, cmd).await,
            Op::StartRecording => self.start_recording(key, state, cmd).await,
            Op::PauseRecording { .. } | Op::ResumeRecording { .. } | Op::StopRecording { .. } => {
                self.recording_state(key, cmd).await
            }
            Op::StopTranscription => self.stop_transcription(key, state, cmd).await,
            Op::Transfer { .. } => self.transfer(key, state, cmd).await,
            Op::HangUp { .. } => self.hang_up(key, state, cmd).await,
            Op::CallAgent { .. } => self.call_agent(key, state, cmd).await,
            Op::AddCustomer { .. } => self.add_customer(key, state, cmd).await,
            Op::EndLeg { .. } => self.end_leg(key, state, cmd).await,
            _ => Err(not_this_op(cmd)),
        }
    }

    pub(crate) fn repeatability(&self, key: &CorrelationId, cmd: &Command) -> Repeatability {
        // The correlation id is part of the namespace key: sanitized captures (and buggy
        // senders) reuse event ids across calls.
        Repeatability::derive(
            &format!("{key}/{}", cmd.key.event_id),
            &cmd.key.action,
            cmd.key.first_sent,
        )
    }

    /// The result of an operation on one participant. Call Automation answers 404 both when
    /// the call is gone and when only the participant (or invitation) is — an agent who joined
    /// late and was already removed, say — so a 404 is checked against the call itself: only
    /// a call that is really gone ends the flow.
    async fn participant_op(
        &self,
        cc: &CallConnectionId,
        result: Result<impl Sized, CaError>,
        already_done: &str,
    ) -> Result<Effect, CmdError> {
        match result {
            Ok(_) => Ok(Effect::Done(String::new())),
            Err(e) if e.is_call_not_found() => {
                match self.client.get_call(cc, RequestOptions::default()).await {
                    Ok(_) => Ok(Effect::Done(already_done.to_string())),
                    Err(check) if check.is_call_not_found() => Err(e.into()),
                    // Could not tell: retry the command later rather than end the call.
                    Err(check) => Err(CmdError::Transient(format!(
                        "{e}; checking whether the call still exists failed: {check}"
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn request_options(&self, key: &CorrelationId, cmd: &Command) -> RequestOptions {
        if self.is_late(cmd) {
            return self.late_options(key, cmd);
        }
        RequestOptions::with_repeatability(self.repeatability(key, cmd))
    }

    pub(crate) fn connection<'s>(
        &self,
        state: &'s CallState,
    ) -> Result<&'s CallConnectionId, CmdError> {
        state
            .call_connection_id
            .as_ref()
            .ok_or_else(|| CmdError::Permanent("no call connection id yet".into()))
    }

    /// Media operations take no repeatability headers: a store marker makes them run once.
    fn marker(&self, key: &CorrelationId, cmd: &Command) -> String {
        format!("cmd:{key}:{}", self.repeatability(key, cmd).request_id)
    }

    /// Runs a media operation at most once. The marker is claimed *before* the request:
    /// after a crash, or an answer lost on the way back, nobody can tell whether the service
    /// applied it, and sending it again could play a prompt twice. So a claimed marker is
    /// never sent again ([`Effect::Uncertain`]); the marker is given back only when the
    /// request certainly did not take effect (no connection, or the service refused it), so
    /// the redelivery may send it.
    async fn fenced<F>(
        &self,
        key: &CorrelationId,
        cmd: &Command,
        run: F,
    ) -> Result<Effect, CmdError>
    where
        F: std::future::Future<Output = Result<(), CaError>>,
    {
        let marker = self.marker(key, cmd);
        if !self.store.mark_once(&marker, self.marker_ttl).await? {
            return Ok(Effect::Uncertain(
                "an earlier attempt claimed it and did not finish".into(),
            ));
        }
        match run.await {
            Ok(()) => Ok(Effect::Done(String::new())),
            Err(e) if e.may_have_been_applied() => Ok(Effect::Uncertain(e.to_string())),
            Err(e) => {
                if let Err(clear) = self.store.clear_mark(&marker).await {
                    // The redelivery will find the claim and treat the operation as uncertain.
                    tracing::warn!(error = %clear, "could not give back a media operation's claim");
                }
                Err(e.into())
            }
        }
    }
}

/// A command routed to the wrong function: a bug, never retried.
pub(crate) fn not_this_op(cmd: &Command) -> CmdError {
    CmdError::Permanent(format!("{} is not handled here", cmd.op.name()))
}

/// The routing configuration's play source as a Call Automation play source.
pub(crate) fn play_source(source: &PlaySource) -> switchboard_callautomation::PlaySource {
    match source {
        PlaySource::Text {
            text,
            voice,
            locale,
        } => switchboard_callautomation::PlaySource::text(text.clone())
            .with_voice(voice.clone(), locale.clone()),
        PlaySource::File { url } => switchboard_callautomation::PlaySource::file(url.clone()),
        PlaySource::Ssml { ssml } => switchboard_callautomation::PlaySource::ssml(ssml.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_sources_convert() {
        let t = play_source(&PlaySource::Text {
            text: "hi".into(),
            voice: Some("en-US-JennyNeural".into()),
            locale: Some("en-US".into()),
        });
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["kind"], "text");
        assert_eq!(v["text"]["text"], "hi");
        assert_eq!(v["text"]["voiceName"], "en-US-JennyNeural");
        let f = serde_json::to_value(play_source(&PlaySource::File {
            url: "https://x/a.wav".into(),
        }))
        .unwrap();
        assert_eq!(f["kind"], "file");
        assert_eq!(f["file"]["uri"], "https://x/a.wav");
    }
}
