//! Media of a connected call: play, stop, DTMF recognize, recording. Media operations take no
//! repeatability headers; [`Calls::fenced`](super::Calls) runs them once through a store marker.

use switchboard_callautomation::{
    DtmfOptions, PlayOptions, PlayRequest, RecognizeRequest, RecordingChannelType,
    RecordingContentType, RecordingFormatType, StartCallRecordingRequest, StopTranscriptionRequest,
};
use switchboard_events::CorrelationId;

use super::{not_this_op, play_source, Calls, CmdError, Effect};
use crate::flow::{CallState, Command, Op};

impl Calls {
    pub(super) async fn play(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::Play {
            source,
            loop_playback,
            play_to,
            interrupt,
            operation_context,
        } = &cmd.op
        else {
            return Err(not_this_op(cmd));
        };
        let cc = self.connection(state)?;
        let mut req = PlayRequest::new(vec![play_source(source)]);
        req.play_to = play_to.iter().cloned().collect();
        if *interrupt && req.play_to.is_empty() {
            req.interrupt_call_media_operation = Some(true);
        }
        if *loop_playback {
            req.play_options = Some(PlayOptions { loop_: true });
        }
        req.operation_context = Some(operation_context.as_str().into());
        let calls = &self.client;
        let opts = self.request_options(key, cmd);
        self.fenced(key, cmd, async move { calls.play(cc, &req, opts).await })
            .await
    }

    pub(super) async fn cancel_media(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::CancelMedia = &cmd.op else {
            return Err(not_this_op(cmd));
        };
        let cc = self.connection(state)?;
        let calls = &self.client;
        let opts = self.request_options(key, cmd);
        self.fenced(key, cmd, async move {
            calls.cancel_all_media_operations(cc, opts).await
        })
        .await
    }

    pub(super) async fn recognize(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::Recognize {
            prompt,
            target,
            max_tones,
            initial_silence_timeout_secs,
            operation_context,
        } = &cmd.op
        else {
            return Err(not_this_op(cmd));
        };
        let cc = self.connection(state)?;
        let mut req = RecognizeRequest::dtmf(target.clone(), Some(play_source(prompt)), *max_tones);
        req.recognize_options.initial_silence_timeout_in_seconds =
            Some((*initial_silence_timeout_secs).min(300));
        if let Some(d) = req.recognize_options.dtmf_options.as_mut() {
            *d = DtmfOptions {
                inter_tone_timeout_in_seconds: Some(5),
                ..d.clone()
            };
        }
        req.operation_context = Some(operation_context.as_str().into());
        let calls = &self.client;
        let opts = self.request_options(key, cmd);
        self.fenced(
            key,
            cmd,
            async move { calls.recognize(cc, &req, opts).await },
        )
        .await
    }

    pub(super) async fn start_recording(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::StartRecording = &cmd.op else {
            return Err(not_this_op(cmd));
        };
        let mut req = match (&state.server_call_id, &state.call_connection_id) {
            (Some(server), _) => StartCallRecordingRequest::for_server_call(server.clone()),
            (None, Some(cc)) => StartCallRecordingRequest::for_call_connection(cc.clone()),
            (None, None) => {
                return Err(CmdError::Permanent("no call to record yet".into()));
            }
        };
        req.recording_state_callback_uri = Some(self.callback_url.clone());
        req.recording_content_type = Some(RecordingContentType::Audio);
        req.recording_channel_type = Some(RecordingChannelType::Mixed);
        req.recording_format_type = Some(RecordingFormatType::Wav);
        // Never record before the participants heard the notice: the flow resumes the
        // recording once the notice has played.
        req.pause_on_start = Some(true);
        let resp = self
            .client
            .start_recording(&req, self.request_options(key, cmd))
            .await?;
        Ok(Effect::Done(
            resp.recording_id
                .map(|r| format!("recording {r}"))
                .unwrap_or_default(),
        ))
    }

    /// Pause, resume or stop a recording (the notice's hold and fallback). Not repeatable
    /// operations: run once through a store marker, like media.
    pub(super) async fn recording_state(
        &self,
        key: &CorrelationId,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let calls = &self.client;
        let opts = self.request_options(key, cmd);
        match &cmd.op {
            Op::PauseRecording { recording_id } => {
                self.fenced(key, cmd, calls.pause_recording(recording_id, opts))
                    .await
            }
            Op::ResumeRecording { recording_id } => {
                self.fenced(key, cmd, calls.resume_recording(recording_id, opts))
                    .await
            }
            Op::StopRecording { recording_id } => {
                self.fenced(key, cmd, calls.stop_recording(recording_id, opts))
                    .await
            }
            _ => Err(not_this_op(cmd)),
        }
    }

    pub(super) async fn stop_transcription(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::StopTranscription = &cmd.op else {
            return Err(not_this_op(cmd));
        };
        let cc = self.connection(state)?;
        let calls = &self.client;
        let opts = self.request_options(key, cmd);
        let req = StopTranscriptionRequest::default();
        self.fenced(key, cmd, async move {
            calls.stop_transcription(cc, &req, opts).await
        })
        .await
    }
}
