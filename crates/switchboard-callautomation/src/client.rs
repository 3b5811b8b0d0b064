//! [`CallAutomationClient`]: one method per Call Automation operation.

use std::collections::HashSet;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use switchboard_contract::Operation;
use switchboard_events::{CallConnectionId, CommunicationIdentifier, RecordingId};
use url::Url;

use crate::auth::Credential;
use crate::connection_string::{parse_endpoint, ConnectionString};
use crate::error::{Error, ErrorKind};
use crate::models::validate::Validate;
use crate::models::*;
use crate::options::{ClientOptions, RequestOptions};
use crate::pipeline::{op_name, Pipeline, RawResponse};

/// Stop following `nextLink` after this many pages: a service bug (or a hostile server)
/// must not keep a worker paging forever.
const MAX_PAGES: usize = 1000;

/// A client for the ACS Call Automation REST API.
///
/// Create one per process (or per ACS resource) and share it, e.g. behind an `Arc`: it owns
/// the connection pool and, for token credentials, the token cache. All methods take `&self`
/// and may run concurrently.
#[derive(Debug)]
pub struct CallAutomationClient {
    pipeline: Pipeline,
}

impl CallAutomationClient {
    /// A client for `endpoint` (e.g. `https://contoso.communication.azure.com/`, or the local
    /// simulator's `http://127.0.0.1:PORT/`).
    pub fn new(
        endpoint: Url,
        credential: Credential,
        options: ClientOptions,
    ) -> Result<Self, Error> {
        let endpoint = parse_endpoint(endpoint.as_str()).map_err(|e| {
            Error::invalid_input("CallAutomationClient", format!("bad endpoint {e}"))
        })?;
        let pipeline = Pipeline::new(endpoint, credential, options)
            .map_err(|e| Error::invalid_input("CallAutomationClient", e))?;
        Ok(Self { pipeline })
    }

    /// A client from a connection string `endpoint=…;accesskey=…` (HMAC authentication).
    pub fn from_connection_string(
        connection_string: &str,
        options: ClientOptions,
    ) -> Result<Self, Error> {
        let cs = ConnectionString::parse(connection_string)
            .map_err(|e| Error::invalid_input("CallAutomationClient", e.to_string()))?;
        Self::new(cs.endpoint, Credential::AccessKey(cs.access_key), options)
    }

    /// The endpoint in use.
    pub fn endpoint(&self) -> &Url {
        self.pipeline.endpoint()
    }

    /// The options in use.
    pub fn options(&self) -> &ClientOptions {
        self.pipeline.options()
    }

    // ---- call lifecycle -------------------------------------------------------------------

    /// Places an outbound call (`CreateCall`, 201). Takes repeatability headers.
    pub async fn create_call(
        &self,
        request: &CreateCallRequest,
        options: RequestOptions,
    ) -> Result<CallConnectionProperties, Error> {
        self.json("CreateCall", &[], Some(request), options).await
    }

    /// Answers an incoming call (`AnswerCall`, 200). Takes repeatability headers.
    pub async fn answer_call(
        &self,
        request: &AnswerCallRequest,
        options: RequestOptions,
    ) -> Result<CallConnectionProperties, Error> {
        self.json("AnswerCall", &[], Some(request), options).await
    }

    /// Redirects an incoming call without answering (`RedirectCall`, 204).
    pub async fn redirect_call(
        &self,
        request: &RedirectCallRequest,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty("RedirectCall", &[], Some(request), options)
            .await
    }

    /// Rejects an incoming call (`RejectCall`, 204).
    pub async fn reject_call(
        &self,
        request: &RejectCallRequest,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty("RejectCall", &[], Some(request), options).await
    }

    /// Reads a call connection (`CallConnection_GetCall`, 200).
    pub async fn get_call(
        &self,
        call_connection_id: &CallConnectionId,
        options: RequestOptions,
    ) -> Result<CallConnectionProperties, Error> {
        self.json::<(), _>(
            "CallConnection_GetCall",
            &[("callConnectionId", call_connection_id.as_str())],
            None,
            options,
        )
        .await
    }

    /// Leaves the call (`DELETE`, `CallConnection_HangupCall`, 204): our leg ends, the others
    /// stay connected.
    pub async fn hang_up(
        &self,
        call_connection_id: &CallConnectionId,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty::<()>(
            "CallConnection_HangupCall",
            &[("callConnectionId", call_connection_id.as_str())],
            None,
            options,
        )
        .await
    }

    /// Ends the call for everyone (`POST …:terminate`, `CallConnection_TerminateCall`, 204).
    /// Takes repeatability headers.
    pub async fn terminate_call(
        &self,
        call_connection_id: &CallConnectionId,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty::<()>(
            "CallConnection_TerminateCall",
            &[("callConnectionId", call_connection_id.as_str())],
            None,
            options,
        )
        .await
    }

    /// Transfers the call (`CallConnection_TransferToParticipant`, 202). Takes repeatability
    /// headers.
    pub async fn transfer_to_participant(
        &self,
        call_connection_id: &CallConnectionId,
        request: &TransferToParticipantRequest,
        options: RequestOptions,
    ) -> Result<TransferCallResponse, Error> {
        self.json(
            "CallConnection_TransferToParticipant",
            &[("callConnectionId", call_connection_id.as_str())],
            Some(request),
            options,
        )
        .await
    }

    // ---- participants ---------------------------------------------------------------------

    /// Every participant (`CallConnection_GetParticipants`, 200), following `nextLink` until
    /// the last page. Each page is one retried request.
    pub async fn list_participants(
        &self,
        call_connection_id: &CallConnectionId,
        options: RequestOptions,
    ) -> Result<Vec<CallParticipant>, Error> {
        let op = operation("CallConnection_GetParticipants")?;
        let mut url = self
            .pipeline
            .url_for(op, &[("callConnectionId", call_connection_id.as_str())])?;
        let mut seen = HashSet::new();
        let mut participants = Vec::new();
        for _ in 0..MAX_PAGES {
            let raw = self.pipeline.send(op, url.clone(), None, &options).await?;
            let page: GetParticipantsResponse = decode(op, &raw)?;
            participants.extend(page.value);
            let Some(link) = page.next_link.filter(|l| !l.trim().is_empty()) else {
                return Ok(participants);
            };
            if !seen.insert(link.clone()) {
                return Err(Error::new(
                    ErrorKind::Decode,
                    op_name(op),
                    "nextLink repeats an earlier page",
                ));
            }
            url = self.pipeline.next_link_url(op, &link)?;
        }
        Err(Error::new(
            ErrorKind::Decode,
            op_name(op),
            format!("more than {MAX_PAGES} pages of participants"),
        ))
    }

    /// One participant (`CallConnection_GetParticipant`, 200); the raw id is percent-encoded
    /// into the path. A 404 here is a plain status error: the participant may have left while
    /// the call goes on.
    pub async fn get_participant(
        &self,
        call_connection_id: &CallConnectionId,
        participant: &CommunicationIdentifier,
        options: RequestOptions,
    ) -> Result<CallParticipant, Error> {
        let raw_id = participant.raw_id();
        self.json::<(), _>(
            "CallConnection_GetParticipant",
            &[
                ("callConnectionId", call_connection_id.as_str()),
                ("participantRawId", raw_id.as_str()),
            ],
            None,
            options,
        )
        .await
    }

    /// Invites a participant (`CallConnection_AddParticipant`, 202). Takes repeatability
    /// headers. `invitationTimeoutInSeconds` must be 0-180.
    pub async fn add_participant(
        &self,
        call_connection_id: &CallConnectionId,
        request: &AddParticipantRequest,
        options: RequestOptions,
    ) -> Result<AddParticipantResponse, Error> {
        self.json(
            "CallConnection_AddParticipant",
            &[("callConnectionId", call_connection_id.as_str())],
            Some(request),
            options,
        )
        .await
    }

    /// Removes a participant (`CallConnection_RemoveParticipant`, 202). Takes repeatability
    /// headers.
    pub async fn remove_participant(
        &self,
        call_connection_id: &CallConnectionId,
        request: &RemoveParticipantRequest,
        options: RequestOptions,
    ) -> Result<RemoveParticipantResponse, Error> {
        self.json(
            "CallConnection_RemoveParticipant",
            &[("callConnectionId", call_connection_id.as_str())],
            Some(request),
            options,
        )
        .await
    }

    /// Cancels a pending invitation (`CallConnection_CancelAddParticipant`, 202). Takes
    /// repeatability headers.
    pub async fn cancel_add_participant(
        &self,
        call_connection_id: &CallConnectionId,
        request: &CancelAddParticipantRequest,
        options: RequestOptions,
    ) -> Result<CancelAddParticipantResponse, Error> {
        self.json(
            "CallConnection_CancelAddParticipant",
            &[("callConnectionId", call_connection_id.as_str())],
            Some(request),
            options,
        )
        .await
    }

    /// Mutes participants (`CallConnection_Mute`, 200). Takes repeatability headers.
    pub async fn mute_participants(
        &self,
        call_connection_id: &CallConnectionId,
        request: &MuteParticipantsRequest,
        options: RequestOptions,
    ) -> Result<MuteParticipantsResult, Error> {
        self.json(
            "CallConnection_Mute",
            &[("callConnectionId", call_connection_id.as_str())],
            Some(request),
            options,
        )
        .await
    }

    // ---- media ----------------------------------------------------------------------------

    /// Plays prompts (`CallMedia_Play`, 202). Completion arrives as PlayCompleted/PlayFailed.
    pub async fn play(
        &self,
        call_connection_id: &CallConnectionId,
        request: &PlayRequest,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty(
            "CallMedia_Play",
            &[("callConnectionId", call_connection_id.as_str())],
            Some(request),
            options,
        )
        .await
    }

    /// Cancels every running play/recognize (`CallMedia_CancelAllMediaOperations`, 202).
    pub async fn cancel_all_media_operations(
        &self,
        call_connection_id: &CallConnectionId,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty::<()>(
            "CallMedia_CancelAllMediaOperations",
            &[("callConnectionId", call_connection_id.as_str())],
            None,
            options,
        )
        .await
    }

    /// Collects input (`CallMedia_Recognize`, 202), e.g. an IVR menu choice by DTMF. The result
    /// arrives as RecognizeCompleted/RecognizeFailed.
    pub async fn recognize(
        &self,
        call_connection_id: &CallConnectionId,
        request: &RecognizeRequest,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty(
            "CallMedia_Recognize",
            &[("callConnectionId", call_connection_id.as_str())],
            Some(request),
            options,
        )
        .await
    }

    /// Puts a participant on hold (`CallMedia_Hold`, 200).
    pub async fn hold(
        &self,
        call_connection_id: &CallConnectionId,
        request: &HoldRequest,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty(
            "CallMedia_Hold",
            &[("callConnectionId", call_connection_id.as_str())],
            Some(request),
            options,
        )
        .await
    }

    /// Takes a participant off hold (`CallMedia_Unhold`, 200).
    pub async fn unhold(
        &self,
        call_connection_id: &CallConnectionId,
        request: &UnholdRequest,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty(
            "CallMedia_Unhold",
            &[("callConnectionId", call_connection_id.as_str())],
            Some(request),
            options,
        )
        .await
    }

    // ---- recording ------------------------------------------------------------------------

    /// Starts recording (`CallRecording_StartRecording`, 200 or 202). Takes repeatability
    /// headers.
    pub async fn start_recording(
        &self,
        request: &StartCallRecordingRequest,
        options: RequestOptions,
    ) -> Result<RecordingStateResponse, Error> {
        self.json("CallRecording_StartRecording", &[], Some(request), options)
            .await
    }

    /// Reads a recording's state (`CallRecording_GetRecordingProperties`, 200).
    pub async fn get_recording(
        &self,
        recording_id: &RecordingId,
        options: RequestOptions,
    ) -> Result<RecordingStateResponse, Error> {
        self.json::<(), _>(
            "CallRecording_GetRecordingProperties",
            &[("recordingId", recording_id.as_str())],
            None,
            options,
        )
        .await
    }

    /// Pauses a recording (`CallRecording_PauseRecording`, 202).
    pub async fn pause_recording(
        &self,
        recording_id: &RecordingId,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty::<()>(
            "CallRecording_PauseRecording",
            &[("recordingId", recording_id.as_str())],
            None,
            options,
        )
        .await
    }

    /// Resumes a recording (`CallRecording_ResumeRecording`, 202).
    pub async fn resume_recording(
        &self,
        recording_id: &RecordingId,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty::<()>(
            "CallRecording_ResumeRecording",
            &[("recordingId", recording_id.as_str())],
            None,
            options,
        )
        .await
    }

    /// Stops a recording (`DELETE`, `CallRecording_StopRecording`, 204).
    pub async fn stop_recording(
        &self,
        recording_id: &RecordingId,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty::<()>(
            "CallRecording_StopRecording",
            &[("recordingId", recording_id.as_str())],
            None,
            options,
        )
        .await
    }

    // ---- transcription ----------------------------------------------------------------------

    /// Stops transcription (`CallMedia_StopTranscription`, 202; `TranscriptionStopped`
    /// follows).
    pub async fn stop_transcription(
        &self,
        call_connection_id: &CallConnectionId,
        request: &StopTranscriptionRequest,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.empty(
            "CallMedia_StopTranscription",
            &[("callConnectionId", call_connection_id.as_str())],
            Some(request),
            options,
        )
        .await
    }

    // ---- plumbing -------------------------------------------------------------------------

    async fn send<B: Serialize + Validate>(
        &self,
        operation_id: &'static str,
        params: &[(&str, &str)],
        body: Option<&B>,
        options: RequestOptions,
    ) -> Result<(&'static Operation, RawResponse), Error> {
        let op = operation(operation_id)?;
        let name = op_name(op);
        let url = self.pipeline.url_for(op, params)?;
        let bytes = match body {
            Some(b) => {
                b.validate().map_err(|m| Error::invalid_input(name, m))?;
                let json = serde_json::to_vec(b).map_err(|e| {
                    Error::invalid_input(name, format!("cannot serialize the request: {e}"))
                })?;
                Some(Bytes::from(json))
            }
            None => None,
        };
        let raw = self.pipeline.send(op, url, bytes, &options).await?;
        Ok((op, raw))
    }

    async fn json<B: Serialize + Validate, R: DeserializeOwned>(
        &self,
        operation_id: &'static str,
        params: &[(&str, &str)],
        body: Option<&B>,
        options: RequestOptions,
    ) -> Result<R, Error> {
        let (op, raw) = self.send(operation_id, params, body, options).await?;
        decode(op, &raw)
    }

    async fn empty<B: Serialize + Validate>(
        &self,
        operation_id: &'static str,
        params: &[(&str, &str)],
        body: Option<&B>,
        options: RequestOptions,
    ) -> Result<(), Error> {
        self.send(operation_id, params, body, options)
            .await
            .map(|_| ())
    }
}

/// Requests without a body use `()` as their body type.
impl Validate for () {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

fn operation(operation_id: &'static str) -> Result<&'static Operation, Error> {
    switchboard_contract::operation(operation_id).ok_or_else(|| {
        Error::invalid_input(operation_id, "operation missing from the embedded contract")
    })
}

/// Reads a success body. An empty body reads as `{}`, so all-optional results (transfer,
/// remove, mute…) succeed against a service that answers 202 with no body; a model with
/// required fields still fails with a clear error.
fn decode<R: DeserializeOwned>(op: &'static Operation, raw: &RawResponse) -> Result<R, Error> {
    let body: &[u8] = if raw.body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &raw.body
    };
    serde_json::from_slice(body).map_err(|e| {
        // A success status: the operation took effect even though its answer is unreadable.
        Error::new(
            ErrorKind::Decode,
            op_name(op),
            format!(
                "HTTP {} body is not a valid {}: {e}",
                raw.status,
                std::any::type_name::<R>()
                    .rsplit("::")
                    .next()
                    .unwrap_or("model")
            ),
        )
        .maybe_applied(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_the_client_uses_is_in_the_contract() {
        for id in [
            "CreateCall",
            "AnswerCall",
            "RedirectCall",
            "RejectCall",
            "CallConnection_GetCall",
            "CallConnection_HangupCall",
            "CallConnection_TerminateCall",
            "CallConnection_TransferToParticipant",
            "CallConnection_GetParticipants",
            "CallConnection_GetParticipant",
            "CallConnection_AddParticipant",
            "CallConnection_RemoveParticipant",
            "CallConnection_CancelAddParticipant",
            "CallConnection_Mute",
            "CallMedia_Play",
            "CallMedia_CancelAllMediaOperations",
            "CallMedia_Recognize",
            "CallMedia_Hold",
            "CallMedia_Unhold",
            "CallRecording_StartRecording",
            "CallRecording_GetRecordingProperties",
            "CallRecording_PauseRecording",
            "CallRecording_ResumeRecording",
            "CallRecording_StopRecording",
        ] {
            assert!(operation(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn bad_endpoints_are_invalid_input() {
        for bad in ["ftp://x/", "https://u:p@x/", "https://x/?q=1"] {
            let err = CallAutomationClient::new(
                Url::parse(bad).unwrap(),
                Credential::access_key("a2V5").unwrap(),
                ClientOptions::default(),
            )
            .unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{bad}");
        }
        let err = CallAutomationClient::from_connection_string(
            "endpoint=https://x",
            ClientOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no accesskey"), "{err}");
    }
}
