//! How commands and internal inputs read in logs and the timeline (`Display`), kept apart
//! from their definitions in [`super::command`].

use std::fmt;

use super::command::{Internal, Op};

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Answer { .. } => f.write_str("answer"),
            Self::Redirect { target, .. } => write!(f, "redirect to {target}"),
            Self::Reject { .. } => f.write_str("reject"),
            Self::AddParticipant {
                agent,
                invitation_timeout_secs,
                ..
            } => write!(f, "add agent {agent} (rings {invitation_timeout_secs}s)"),
            Self::CancelAddParticipant { invitation_id, .. } => {
                write!(f, "cancel invitation {invitation_id}")
            }
            Self::RemoveParticipant { participant, .. } => write!(f, "remove {participant}"),
            Self::Play {
                loop_playback,
                interrupt,
                operation_context,
                ..
            } => write!(
                f,
                "play {operation_context}{}{}",
                if *loop_playback { " (loop)" } else { "" },
                if *interrupt { " (interrupt)" } else { "" }
            ),
            Self::CancelMedia => f.write_str("cancel media"),
            Self::Recognize {
                operation_context, ..
            } => write!(f, "recognize DTMF {operation_context}"),
            Self::StartRecording => f.write_str("start recording (paused until the notice)"),
            Self::PauseRecording { recording_id } => write!(f, "pause recording {recording_id}"),
            Self::ResumeRecording { recording_id } => write!(f, "resume recording {recording_id}"),
            Self::StopRecording { recording_id } => write!(f, "stop recording {recording_id}"),
            Self::StopTranscription => f.write_str("stop transcription"),
            Self::Transfer { target, .. } => write!(f, "transfer to {target}"),
            Self::HangUp { for_everyone } => f.write_str(if *for_everyone {
                "terminate call"
            } else {
                "hang up"
            }),
            Self::Route {
                seq,
                call,
                excluded,
                ..
            } => write!(
                f,
                "route {seq} in queue {} ({} attempts, {} excluded)",
                call.queue,
                call.attempts,
                excluded.len()
            ),
            Self::JoinWaitlist { n, call, .. } => {
                write!(f, "wait in queue {} (re-check {n})", call.queue)
            }
            Self::QueryWaitStatus { n, call } => {
                write!(f, "read wait status {n} in queue {}", call.queue)
            }
            Self::RequestCallback { request } => {
                write!(f, "store callback request in queue {}", request.call.queue)
            }
            Self::Confirm { reservation } => write!(f, "confirm agent {}", reservation.agent),
            Self::Release {
                reservation,
                wrap_up_secs,
                ..
            } => write!(
                f,
                "release agent {} (wrap-up {wrap_up_secs}s)",
                reservation.agent
            ),
            Self::Schedule { input, at, .. } => {
                write!(f, "schedule {} at {at}", input.type_name())
            }
            Self::Archive => f.write_str("archive call"),
            Self::CallAgent { seq, agent, .. } => write!(f, "call agent {agent} (offer {seq})"),
            Self::AddCustomer {
                number, caller_id, ..
            } => write!(f, "add customer {number} (caller id {caller_id})"),
            Self::EndLeg { call_connection_id } => write!(f, "end call {call_connection_id}"),
            Self::FinishCallback { callback } => write!(
                f,
                "finish callback {}: {}",
                callback.request.correlation_id,
                callback.outcome.map_or("?", |o| o.as_str())
            ),
        }
    }
}

impl fmt::Display for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Routed {
                seq,
                reservation,
                detail,
            } => write!(f, "route {seq}: reserved {} ({detail})", reservation.agent),
            Self::NoAgent {
                seq,
                retry_after_ms,
                detail,
            } => write!(
                f,
                "route {seq}: nobody free, retry in {retry_after_ms} ms ({detail})"
            ),
            Self::Overflow {
                seq,
                target,
                detail,
            } => write!(
                f,
                "route {seq}: overflow to {} ({detail})",
                target.describe()
            ),
            Self::Invited { seq, invitation_id } => {
                write!(f, "offer {seq}: invitation {invitation_id}")
            }
            Self::RingTimeout { seq } => write!(f, "offer {seq}: ring timeout"),
            Self::QueueRecheck { n } => write!(f, "queue re-check {n}"),
            Self::WaitStatusDue { n } => write!(f, "wait status {n} due"),
            Self::WaitStatus {
                n,
                position,
                estimated_wait_secs,
                staffed,
            } => write!(
                f,
                "wait status {n}: position {position}, about {estimated_wait_secs} s ({staffed} staffed)"
            ),
            Self::VoicemailDone => f.write_str("voicemail window over"),
            Self::RecognizeOverdue { try_no } => {
                write!(f, "menu try {try_no}: no recognize outcome in time")
            }
            Self::CallbackStart { request } => write!(
                f,
                "callback request {} in {}",
                request.correlation_id, request.call.queue
            ),
            Self::CallbackDue => f.write_str("callback due (an agent freed up)"),
            Self::CallbackDialled {
                seq,
                call_connection_id,
            } => write!(f, "offer {seq}: agent call {call_connection_id}"),
            Self::CallbackCustomerOverdue { seq } => {
                write!(f, "offer {seq}: no outcome of the customer in time")
            }
            Self::CommandUncertain { command, reason } => {
                write!(f, "{} outcome unknown: {reason}", command.op.name())
            }
            Self::CommandFailed {
                command,
                gone,
                reason,
            } => write!(
                f,
                "{} failed{}: {reason}",
                command.op.name(),
                if *gone { " (call gone)" } else { "" }
            ),
        }
    }
}
