//! `switchboard call <op>`: Call Automation operations for operators, against ACS or the local
//! simulator.
//!
//! The connection string comes from `--connection-string` or
//! `SWITCHBOARD_ACS_CONNECTION_STRING` (never echoed). Participants and targets are raw ids
//! (`8:orgid:<oid>`, `8:acs:…`, `4:+14255550123`, `28:orgid:<appId>`), checked before anything
//! is sent. The answer is printed on stdout as JSON (operations without a body print
//! `{"operation": …, "succeeded": true}`); errors go to stderr. Exit codes: 0 success,
//! 1 the operation failed (service or network), 2 bad input (also clap's usage errors).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use switchboard_callautomation::{
    AddParticipantRequest, AnswerCallRequest, CallAutomationClient, CallIntelligenceOptions,
    CallRejectReason, CancelAddParticipantRequest, ClientOptions, CreateCallRequest,
    CustomCallingContext, DtmfOptions, HoldRequest, MicrosoftTeamsAppIdentifier,
    MuteParticipantsRequest, PhoneNumberIdentifier, PlayOptions, PlayRequest, PlaySource,
    RecognizeRequest, RecordingChannelType, RecordingContentType, RecordingFormatType,
    RedirectCallRequest, RejectCallRequest, RemoveParticipantRequest, Repeatability,
    RequestOptions, StartCallRecordingRequest, Tone, TransferToParticipantRequest, UnholdRequest,
};
use switchboard_events::{
    CallConnectionId, CommunicationIdentifier, InvitationId, OperationContext, RecordingId,
    ServerCallId,
};

const EXIT_BAD_INPUT: u8 = 2;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// ACS connection string, `endpoint=https://….communication.azure.com/;accesskey=…`
    /// (an `http://` endpoint is fine for the local simulator).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_ACS_CONNECTION_STRING",
        hide_env_values = true
    )]
    connection_string: Option<String>,
    /// Call Automation api-version to send.
    #[arg(long, global = true, default_value = switchboard_contract::API_VERSION)]
    api_version: String,
    /// Attempts per operation, including the first (retries only transient failures).
    #[arg(long, global = true, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=20))]
    attempts: u32,
    /// Timeout of one attempt, in seconds.
    #[arg(long, global = true, default_value_t = 20)]
    timeout: u64,
    /// Budget for the whole operation including retries, in seconds.
    #[arg(long, global = true, default_value_t = 60)]
    deadline: u64,
    #[command(subcommand)]
    op: Op,
}

/// `--repeatability-id` / `--first-sent`, for operations that take the headers.
#[derive(Debug, clap::Args)]
struct Idempotency {
    /// Repeatability-Request-ID to send (a UUID). Repeating a command with the same id makes
    /// the service return the first result instead of acting twice. Default: a fresh UUID.
    #[arg(long, value_name = "UUID")]
    repeatability_id: Option<String>,
    /// Repeatability-First-Sent (HTTP date or RFC 3339); needs --repeatability-id.
    /// Default: now.
    #[arg(long, value_name = "TIME", requires = "repeatability_id")]
    first_sent: Option<String>,
}

impl Idempotency {
    fn options(&self) -> Result<RequestOptions, BadInput> {
        match &self.repeatability_id {
            None => Ok(RequestOptions::default()),
            Some(id) => Repeatability::parse(id, self.first_sent.as_deref())
                .map(RequestOptions::with_repeatability)
                .map_err(BadInput),
        }
    }
}

/// Optional per-operation context and callback override.
#[derive(Debug, clap::Args)]
struct Context {
    /// Operation context echoed on the events this operation causes.
    #[arg(long)]
    operation_context: Option<String>,
    /// Callback URI for this operation's events (overrides the call's).
    #[arg(long, value_name = "URL")]
    operation_callback_uri: Option<String>,
}

impl Context {
    fn context(&self) -> Option<OperationContext> {
        self.operation_context.clone().map(OperationContext::from)
    }
}

#[derive(Debug, clap::Subcommand)]
enum Op {
    /// Place an outbound call.
    Create {
        /// Who to call (raw id; repeat for a group call).
        #[arg(long = "target", value_name = "RAW_ID", required = true, value_parser = parse_participant)]
        targets: Vec<CommunicationIdentifier>,
        /// Where Call Automation posts the call's events.
        #[arg(long, value_name = "URL")]
        callback_uri: String,
        /// Name shown to the callee.
        #[arg(long)]
        source_display_name: Option<String>,
        /// Caller id for PSTN targets (E.164).
        #[arg(long, value_name = "E164", value_parser = parse_e164)]
        source_caller_id: Option<String>,
        /// Call on behalf of a Teams resource account (`28:orgid:<appId>`).
        #[arg(long, value_name = "RAW_ID", value_parser = parse_teams_app)]
        teams_app_source: Option<MicrosoftTeamsAppIdentifier>,
        /// Azure AI services endpoint for text-to-speech and speech recognition on the call
        /// (`callIntelligenceOptions.cognitiveServicesEndpoint`).
        #[arg(
            long,
            value_name = "URL",
            env = "SWITCHBOARD_COGNITIVE_SERVICES_ENDPOINT"
        )]
        cognitive_services_endpoint: Option<String>,
        /// Operation context.
        #[arg(long)]
        operation_context: Option<String>,
        #[command(flatten)]
        idem: Idempotency,
    },
    /// Answer an incoming call.
    Answer {
        /// `incomingCallContext` from the IncomingCall event.
        #[arg(long)]
        incoming_call_context: String,
        /// Where Call Automation posts the call's events.
        #[arg(long, value_name = "URL")]
        callback_uri: String,
        /// Azure AI services endpoint for text-to-speech and speech recognition on the call
        /// (`callIntelligenceOptions.cognitiveServicesEndpoint`).
        #[arg(
            long,
            value_name = "URL",
            env = "SWITCHBOARD_COGNITIVE_SERVICES_ENDPOINT"
        )]
        cognitive_services_endpoint: Option<String>,
        /// Operation context.
        #[arg(long)]
        operation_context: Option<String>,
        #[command(flatten)]
        idem: Idempotency,
    },
    /// Redirect an incoming call without answering it.
    Redirect {
        /// `incomingCallContext` from the IncomingCall event.
        #[arg(long)]
        incoming_call_context: String,
        /// Where to send the call.
        #[arg(long, value_name = "RAW_ID", value_parser = parse_participant)]
        target: CommunicationIdentifier,
        #[command(flatten)]
        idem: Idempotency,
    },
    /// Reject an incoming call.
    Reject {
        /// `incomingCallContext` from the IncomingCall event.
        #[arg(long)]
        incoming_call_context: String,
        /// Reason: none, busy or forbidden.
        #[arg(long, value_parser = parse_reject_reason)]
        reason: Option<CallRejectReason>,
        #[command(flatten)]
        idem: Idempotency,
    },
    /// Show a call connection.
    Get {
        /// The call connection id.
        call_connection_id: String,
    },
    /// List every participant (follows paging).
    Participants {
        /// The call connection id.
        call_connection_id: String,
    },
    /// Show one participant.
    Participant {
        /// The call connection id.
        call_connection_id: String,
        /// The participant's raw id.
        #[arg(value_parser = parse_participant)]
        participant: CommunicationIdentifier,
    },
    /// Invite a participant (e.g. a Teams agent) into the call.
    Add {
        /// The call connection id.
        call_connection_id: String,
        /// Who to add (raw id).
        #[arg(long, value_name = "RAW_ID", value_parser = parse_participant)]
        participant: CommunicationIdentifier,
        /// Name shown to the invitee.
        #[arg(long)]
        source_display_name: Option<String>,
        /// Caller id for a PSTN invitee (E.164).
        #[arg(long, value_name = "E164", value_parser = parse_e164)]
        source_caller_id: Option<String>,
        /// Seconds to ring, 0-180.
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(0..=180))]
        invitation_timeout: Option<u32>,
        /// VoIP header for the invitee, `name=value` (repeatable).
        #[arg(long, value_name = "NAME=VALUE", value_parser = parse_header)]
        voip_header: Vec<(String, String)>,
        /// SIP header for a PSTN invitee, `name=value` (repeatable).
        #[arg(long, value_name = "NAME=VALUE", value_parser = parse_header)]
        sip_header: Vec<(String, String)>,
        #[command(flatten)]
        ctx: Context,
        #[command(flatten)]
        idem: Idempotency,
    },
    /// Remove a participant.
    Remove {
        /// The call connection id.
        call_connection_id: String,
        /// Who to remove (raw id).
        #[arg(long, value_name = "RAW_ID", value_parser = parse_participant)]
        participant: CommunicationIdentifier,
        #[command(flatten)]
        ctx: Context,
        #[command(flatten)]
        idem: Idempotency,
    },
    /// Transfer the call to someone else.
    Transfer {
        /// The call connection id.
        call_connection_id: String,
        /// The transfer target (raw id).
        #[arg(long, value_name = "RAW_ID", value_parser = parse_participant)]
        target: CommunicationIdentifier,
        /// In a group call, the participant to transfer (raw id).
        #[arg(long, value_name = "RAW_ID", value_parser = parse_participant)]
        transferee: Option<CommunicationIdentifier>,
        /// Caller id for a PSTN target (E.164).
        #[arg(long, value_name = "E164", value_parser = parse_e164)]
        source_caller_id: Option<String>,
        #[command(flatten)]
        ctx: Context,
        #[command(flatten)]
        idem: Idempotency,
    },
    /// Cancel a pending add-participant invitation.
    CancelAdd {
        /// The call connection id.
        call_connection_id: String,
        /// The invitation id from `add`.
        #[arg(long)]
        invitation_id: String,
        #[command(flatten)]
        ctx: Context,
        #[command(flatten)]
        idem: Idempotency,
    },
    /// Mute a participant.
    Mute {
        /// The call connection id.
        call_connection_id: String,
        /// Who to mute (raw id).
        #[arg(long, value_name = "RAW_ID", value_parser = parse_participant)]
        participant: CommunicationIdentifier,
        /// Operation context.
        #[arg(long)]
        operation_context: Option<String>,
        #[command(flatten)]
        idem: Idempotency,
    },
    /// Leave the call (DELETE); with --for-everyone, end it for everyone (terminate).
    Hangup {
        /// The call connection id.
        call_connection_id: String,
        /// Terminate the call for every participant.
        #[arg(long)]
        for_everyone: bool,
        /// Idempotency (terminate only).
        #[command(flatten)]
        idem: Idempotency,
    },
    /// Play a prompt: an audio file, text to speech, or SSML.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["file", "text", "ssml"])))]
    Play {
        /// The call connection id.
        call_connection_id: String,
        /// Audio file URL.
        #[arg(long, value_name = "URL")]
        file: Option<String>,
        /// Text to speak.
        #[arg(long)]
        text: Option<String>,
        /// SSML to speak.
        #[arg(long)]
        ssml: Option<String>,
        /// Neural voice for --text, e.g. en-US-NancyNeural.
        #[arg(long, requires = "text")]
        voice: Option<String>,
        /// Locale for --text, e.g. en-US.
        #[arg(long, requires = "text")]
        locale: Option<String>,
        /// Play only to this participant (raw id; repeatable). Default: everyone.
        #[arg(long, value_name = "RAW_ID", value_parser = parse_participant)]
        play_to: Vec<CommunicationIdentifier>,
        /// Repeat until cancelled.
        #[arg(long = "loop")]
        loop_: bool,
        /// Interrupt the media operation in progress.
        #[arg(long)]
        interrupt: bool,
        #[command(flatten)]
        ctx: Context,
    },
    /// Collect DTMF tones (IVR menu), optionally after a prompt.
    Recognize {
        /// The call connection id.
        call_connection_id: String,
        /// Whose tones to collect (raw id).
        #[arg(long, value_name = "RAW_ID", value_parser = parse_participant)]
        target: CommunicationIdentifier,
        /// Prompt text to speak first.
        #[arg(long, conflicts_with = "prompt_file")]
        prompt_text: Option<String>,
        /// Prompt audio file URL to play first.
        #[arg(long, value_name = "URL")]
        prompt_file: Option<String>,
        /// Voice for --prompt-text.
        #[arg(long, requires = "prompt_text")]
        voice: Option<String>,
        /// Stop after this many tones.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
        max_tones: u32,
        /// Seconds allowed between tones, 1-60.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=60))]
        inter_tone_timeout: Option<u32>,
        /// Seconds of initial silence before giving up, 0-300.
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=300))]
        initial_silence_timeout: Option<u32>,
        /// Keys that end input early, e.g. `#` or `#*`.
        #[arg(long, value_name = "KEYS", value_parser = parse_tones)]
        stop_tones: Option<Vec<Tone>>,
        /// Do not let the caller interrupt the prompt.
        #[arg(long)]
        no_barge_in: bool,
        #[command(flatten)]
        ctx: Context,
    },
    /// Put a participant on hold.
    Hold {
        /// The call connection id.
        call_connection_id: String,
        /// Who to hold (raw id).
        #[arg(long, value_name = "RAW_ID", value_parser = parse_participant)]
        participant: CommunicationIdentifier,
        /// Music-on-hold audio file URL.
        #[arg(long, value_name = "URL")]
        music: Option<String>,
        #[command(flatten)]
        ctx: Context,
    },
    /// Take a participant off hold.
    Unhold {
        /// The call connection id.
        call_connection_id: String,
        /// Who to take off hold (raw id).
        #[arg(long, value_name = "RAW_ID", value_parser = parse_participant)]
        participant: CommunicationIdentifier,
        #[command(flatten)]
        ctx: Context,
    },
    /// Call recording.
    #[command(subcommand)]
    Recording(RecordingOp),
}

#[derive(Debug, clap::Subcommand)]
enum RecordingOp {
    /// Start recording a call.
    #[command(group(clap::ArgGroup::new("call").required(true).args(["call_connection_id", "server_call_id"])))]
    Start {
        /// Record the call of this call connection.
        #[arg(long)]
        call_connection_id: Option<String>,
        /// Record the server call with this id.
        #[arg(long)]
        server_call_id: Option<String>,
        /// audio or audioVideo.
        #[arg(long, value_parser = parse_known::<RecordingContentType>)]
        content: Option<RecordingContentType>,
        /// mixed or unmixed.
        #[arg(long, value_parser = parse_known::<RecordingChannelType>)]
        channel: Option<RecordingChannelType>,
        /// wav, mp3 or mp4.
        #[arg(long, value_parser = parse_known::<RecordingFormatType>)]
        format: Option<RecordingFormatType>,
        /// Where RecordingStateChanged events go.
        #[arg(long, value_name = "URL")]
        state_callback_uri: Option<String>,
        /// Start paused.
        #[arg(long)]
        pause_on_start: bool,
        #[command(flatten)]
        idem: Idempotency,
    },
    /// Show a recording's state.
    Get {
        /// The recording id.
        recording_id: String,
    },
    /// Pause a recording.
    Pause {
        /// The recording id.
        recording_id: String,
    },
    /// Resume a recording.
    Resume {
        /// The recording id.
        recording_id: String,
    },
    /// Stop a recording.
    Stop {
        /// The recording id.
        recording_id: String,
    },
}

/// Bad input found after argument parsing (exit 2, message on stderr).
#[derive(Debug)]
struct BadInput(String);

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = match client(&args) {
        Ok(c) => c,
        Err(BadInput(msg)) => return Ok(bad_input(&msg)),
    };
    match execute(&client, args.op).await {
        Ok(Ok(json)) => {
            println!("{}", serde_json::to_string_pretty(&json)?);
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(BadInput(msg))) => Ok(bad_input(&msg)),
        Err(e) => Err(e),
    }
}

fn bad_input(msg: &str) -> ExitCode {
    eprintln!("switchboard call: {msg}");
    ExitCode::from(EXIT_BAD_INPUT)
}

fn client(args: &Args) -> Result<CallAutomationClient, BadInput> {
    let cs = args
        .connection_string
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(cs) = cs else {
        return Err(BadInput(
            "no connection string: pass --connection-string or set SWITCHBOARD_ACS_CONNECTION_STRING"
                .into(),
        ));
    };
    let mut options = ClientOptions {
        api_version: args.api_version.clone(),
        request_timeout: Duration::from_secs(args.timeout.max(1)),
        ..ClientOptions::default()
    };
    options.retry.max_attempts = args.attempts;
    options.retry.total_deadline = Some(Duration::from_secs(args.deadline.max(1)));
    // The error names what is wrong with the string, never its content.
    CallAutomationClient::from_connection_string(cs, options)
        .map_err(|e| BadInput(format!("bad connection string: {e}")))
}

/// A JSON value, or bad input.
type Outcome = Result<serde_json::Value, BadInput>;

fn to_json<T: Serialize>(value: &T) -> anyhow::Result<Outcome> {
    Ok(Ok(serde_json::to_value(value)?))
}

fn done(operation: &str) -> anyhow::Result<Outcome> {
    Ok(Ok(
        serde_json::json!({"operation": operation, "succeeded": true}),
    ))
}

fn phone(e164: Option<String>) -> Option<PhoneNumberIdentifier> {
    e164.map(PhoneNumberIdentifier::new)
}

fn custom_context(
    voip: Vec<(String, String)>,
    sip: Vec<(String, String)>,
) -> Option<CustomCallingContext> {
    let ctx = CustomCallingContext {
        voip_headers: voip.into_iter().collect::<BTreeMap<_, _>>(),
        sip_headers: sip.into_iter().collect::<BTreeMap<_, _>>(),
        teams_phone_call_details: None,
    };
    (!ctx.is_empty()).then_some(ctx)
}

/// `callIntelligenceOptions` naming the AI services endpoint, when one is given.
fn intelligence(endpoint: Option<String>) -> Option<CallIntelligenceOptions> {
    endpoint
        .filter(|e| !e.trim().is_empty())
        .map(|e| CallIntelligenceOptions {
            cognitive_services_endpoint: Some(e),
        })
}

macro_rules! opts {
    ($idem:expr) => {
        match $idem.options() {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        }
    };
}

async fn execute(client: &CallAutomationClient, op: Op) -> anyhow::Result<Outcome> {
    let none = RequestOptions::default;
    match op {
        Op::Create {
            targets,
            callback_uri,
            source_display_name,
            source_caller_id,
            teams_app_source,
            cognitive_services_endpoint,
            operation_context,
            idem,
        } => {
            let options = opts!(idem);
            let mut req = CreateCallRequest::new(targets, callback_uri);
            req.source_display_name = source_display_name;
            req.source_caller_id_number = phone(source_caller_id);
            req.teams_app_source = teams_app_source;
            req.call_intelligence_options = intelligence(cognitive_services_endpoint);
            req.operation_context = operation_context.map(OperationContext::from);
            to_json(
                &client
                    .create_call(&req, options)
                    .await
                    .context("create call")?,
            )
        }
        Op::Answer {
            incoming_call_context,
            callback_uri,
            cognitive_services_endpoint,
            operation_context,
            idem,
        } => {
            let options = opts!(idem);
            let mut req = AnswerCallRequest::new(incoming_call_context, callback_uri);
            req.operation_context = operation_context.map(OperationContext::from);
            req.call_intelligence_options = intelligence(cognitive_services_endpoint);
            to_json(
                &client
                    .answer_call(&req, options)
                    .await
                    .context("answer call")?,
            )
        }
        Op::Redirect {
            incoming_call_context,
            target,
            idem,
        } => {
            let options = opts!(idem);
            let req = RedirectCallRequest {
                incoming_call_context,
                target,
            };
            client
                .redirect_call(&req, options)
                .await
                .context("redirect call")?;
            done("RedirectCall")
        }
        Op::Reject {
            incoming_call_context,
            reason,
            idem,
        } => {
            let options = opts!(idem);
            let req = RejectCallRequest {
                incoming_call_context,
                call_reject_reason: reason,
            };
            client
                .reject_call(&req, options)
                .await
                .context("reject call")?;
            done("RejectCall")
        }
        Op::Get { call_connection_id } => {
            let id = CallConnectionId::from(call_connection_id);
            to_json(&client.get_call(&id, none()).await.context("get call")?)
        }
        Op::Participants { call_connection_id } => {
            let id = CallConnectionId::from(call_connection_id);
            to_json(
                &client
                    .list_participants(&id, none())
                    .await
                    .context("list participants")?,
            )
        }
        Op::Participant {
            call_connection_id,
            participant,
        } => {
            let id = CallConnectionId::from(call_connection_id);
            to_json(
                &client
                    .get_participant(&id, &participant, none())
                    .await
                    .context("get participant")?,
            )
        }
        Op::Add {
            call_connection_id,
            participant,
            source_display_name,
            source_caller_id,
            invitation_timeout,
            voip_header,
            sip_header,
            ctx,
            idem,
        } => {
            let options = opts!(idem);
            let mut req = AddParticipantRequest::new(participant);
            req.source_display_name = source_display_name;
            req.source_caller_id_number = phone(source_caller_id);
            req.invitation_timeout_in_seconds = invitation_timeout;
            req.operation_context = ctx.context();
            req.operation_callback_uri = ctx.operation_callback_uri;
            req.custom_calling_context = custom_context(voip_header, sip_header);
            let id = CallConnectionId::from(call_connection_id);
            to_json(
                &client
                    .add_participant(&id, &req, options)
                    .await
                    .context("add participant")?,
            )
        }
        Op::Remove {
            call_connection_id,
            participant,
            ctx,
            idem,
        } => {
            let options = opts!(idem);
            let mut req = RemoveParticipantRequest::new(participant);
            req.operation_context = ctx.context();
            req.operation_callback_uri = ctx.operation_callback_uri;
            let id = CallConnectionId::from(call_connection_id);
            to_json(
                &client
                    .remove_participant(&id, &req, options)
                    .await
                    .context("remove participant")?,
            )
        }
        Op::Transfer {
            call_connection_id,
            target,
            transferee,
            source_caller_id,
            ctx,
            idem,
        } => {
            let options = opts!(idem);
            let mut req = TransferToParticipantRequest::new(target);
            req.transferee = transferee;
            req.source_caller_id_number = phone(source_caller_id);
            req.operation_context = ctx.context();
            req.operation_callback_uri = ctx.operation_callback_uri;
            let id = CallConnectionId::from(call_connection_id);
            to_json(
                &client
                    .transfer_to_participant(&id, &req, options)
                    .await
                    .context("transfer")?,
            )
        }
        Op::CancelAdd {
            call_connection_id,
            invitation_id,
            ctx,
            idem,
        } => {
            let options = opts!(idem);
            let mut req = CancelAddParticipantRequest::new(InvitationId::from(invitation_id));
            req.operation_context = ctx.context();
            req.operation_callback_uri = ctx.operation_callback_uri;
            let id = CallConnectionId::from(call_connection_id);
            to_json(
                &client
                    .cancel_add_participant(&id, &req, options)
                    .await
                    .context("cancel add participant")?,
            )
        }
        Op::Mute {
            call_connection_id,
            participant,
            operation_context,
            idem,
        } => {
            let options = opts!(idem);
            let mut req = MuteParticipantsRequest::new(participant);
            req.operation_context = operation_context.map(OperationContext::from);
            let id = CallConnectionId::from(call_connection_id);
            to_json(
                &client
                    .mute_participants(&id, &req, options)
                    .await
                    .context("mute")?,
            )
        }
        Op::Hangup {
            call_connection_id,
            for_everyone,
            idem,
        } => {
            let id = CallConnectionId::from(call_connection_id);
            if for_everyone {
                let options = opts!(idem);
                client
                    .terminate_call(&id, options)
                    .await
                    .context("terminate call")?;
                done("CallConnection_TerminateCall")
            } else {
                if idem.repeatability_id.is_some() {
                    return Ok(Err(BadInput(
                        "--repeatability-id applies to hangup --for-everyone only (leaving a call takes no repeatability headers)".into(),
                    )));
                }
                client.hang_up(&id, none()).await.context("hang up")?;
                done("CallConnection_HangupCall")
            }
        }
        Op::Play {
            call_connection_id,
            file,
            text,
            ssml,
            voice,
            locale,
            play_to,
            loop_,
            interrupt,
            ctx,
        } => {
            let source = match (file, text, ssml) {
                (Some(f), _, _) => PlaySource::file(f),
                (_, Some(t), _) => PlaySource::text(t).with_voice(voice, locale),
                (_, _, Some(s)) => PlaySource::ssml(s),
                // clap's ArgGroup makes one of them required.
                (None, None, None) => {
                    return Ok(Err(BadInput("give --file, --text or --ssml".into())))
                }
            };
            let mut req = PlayRequest::new(vec![source]);
            req.play_to = play_to;
            req.play_options = loop_.then_some(PlayOptions { loop_: true });
            req.interrupt_call_media_operation = interrupt.then_some(true);
            req.operation_context = ctx.context();
            req.operation_callback_uri = ctx.operation_callback_uri;
            let id = CallConnectionId::from(call_connection_id);
            client.play(&id, &req, none()).await.context("play")?;
            done("CallMedia_Play")
        }
        Op::Recognize {
            call_connection_id,
            target,
            prompt_text,
            prompt_file,
            voice,
            max_tones,
            inter_tone_timeout,
            initial_silence_timeout,
            stop_tones,
            no_barge_in,
            ctx,
        } => {
            let prompt = match (prompt_text, prompt_file) {
                (Some(t), _) => Some(PlaySource::text(t).with_voice(voice, None)),
                (None, Some(f)) => Some(PlaySource::file(f)),
                (None, None) => None,
            };
            let mut req = RecognizeRequest::dtmf(target, prompt, max_tones);
            req.recognize_options.interrupt_prompt = Some(!no_barge_in);
            req.recognize_options.initial_silence_timeout_in_seconds = initial_silence_timeout;
            req.recognize_options.dtmf_options = Some(DtmfOptions {
                inter_tone_timeout_in_seconds: inter_tone_timeout,
                max_tones_to_collect: Some(max_tones),
                stop_tones: stop_tones.unwrap_or_default(),
            });
            req.operation_context = ctx.context();
            req.operation_callback_uri = ctx.operation_callback_uri;
            let id = CallConnectionId::from(call_connection_id);
            client
                .recognize(&id, &req, none())
                .await
                .context("recognize")?;
            done("CallMedia_Recognize")
        }
        Op::Hold {
            call_connection_id,
            participant,
            music,
            ctx,
        } => {
            let mut req = HoldRequest::new(participant, music.map(PlaySource::file));
            req.operation_context = ctx.context();
            req.operation_callback_uri = ctx.operation_callback_uri;
            let id = CallConnectionId::from(call_connection_id);
            client.hold(&id, &req, none()).await.context("hold")?;
            done("CallMedia_Hold")
        }
        Op::Unhold {
            call_connection_id,
            participant,
            ctx,
        } => {
            let mut req = UnholdRequest::new(participant);
            req.operation_context = ctx.context();
            req.operation_callback_uri = ctx.operation_callback_uri;
            let id = CallConnectionId::from(call_connection_id);
            client.unhold(&id, &req, none()).await.context("unhold")?;
            done("CallMedia_Unhold")
        }
        Op::Recording(r) => recording(client, r).await,
    }
}

async fn recording(client: &CallAutomationClient, op: RecordingOp) -> anyhow::Result<Outcome> {
    let none = RequestOptions::default;
    match op {
        RecordingOp::Start {
            call_connection_id,
            server_call_id,
            content,
            channel,
            format,
            state_callback_uri,
            pause_on_start,
            idem,
        } => {
            let options = opts!(idem);
            let mut req = match (call_connection_id, server_call_id) {
                (Some(c), None) => {
                    StartCallRecordingRequest::for_call_connection(CallConnectionId::from(c))
                }
                (None, Some(s)) => {
                    StartCallRecordingRequest::for_server_call(ServerCallId::from(s))
                }
                _ => {
                    return Ok(Err(BadInput(
                        "give exactly one of --call-connection-id and --server-call-id".into(),
                    )))
                }
            };
            req.recording_content_type = content;
            req.recording_channel_type = channel;
            req.recording_format_type = format;
            req.recording_state_callback_uri = state_callback_uri;
            req.pause_on_start = pause_on_start.then_some(true);
            to_json(
                &client
                    .start_recording(&req, options)
                    .await
                    .context("start recording")?,
            )
        }
        RecordingOp::Get { recording_id } => to_json(
            &client
                .get_recording(&RecordingId::from(recording_id), none())
                .await
                .context("get recording")?,
        ),
        RecordingOp::Pause { recording_id } => {
            client
                .pause_recording(&RecordingId::from(recording_id), none())
                .await
                .context("pause recording")?;
            done("CallRecording_PauseRecording")
        }
        RecordingOp::Resume { recording_id } => {
            client
                .resume_recording(&RecordingId::from(recording_id), none())
                .await
                .context("resume recording")?;
            done("CallRecording_ResumeRecording")
        }
        RecordingOp::Stop { recording_id } => {
            client
                .stop_recording(&RecordingId::from(recording_id), none())
                .await
                .context("stop recording")?;
            done("CallRecording_StopRecording")
        }
    }
}

// ---- argument parsers (clap reports their errors as usage errors, exit 2) -----------------

const RAW_ID_HELP: &str =
    "expected a raw id such as 8:orgid:<oid>, 8:acs:<id>, 4:+14255550123 or 28:orgid:<appId>";

/// A participant or target raw id, parsed like the SDKs' `fromRawId`, rejecting what no
/// service would accept: unknown prefixes, empty ids, phone numbers that are not E.164.
fn parse_participant(raw: &str) -> Result<CommunicationIdentifier, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(format!("empty id; {RAW_ID_HELP}"));
    }
    let id = CommunicationIdentifier::from_raw_id(raw);
    match &id {
        CommunicationIdentifier::Unknown { .. } => {
            Err(format!("unrecognised id {raw:?}; {RAW_ID_HELP}"))
        }
        CommunicationIdentifier::PhoneNumber { value, .. } => {
            match switchboard_events::normalize_e164(value) {
                Some(e164) if e164 == *value => Ok(id),
                Some(e164) => Err(format!(
                    "phone number {value:?} is not E.164; did you mean 4:{e164}?"
                )),
                None => Err(format!(
                    "phone number {value:?} is not E.164 (4:+<country><number>)"
                )),
            }
        }
        CommunicationIdentifier::MicrosoftTeamsUser { user_id, .. } if user_id.is_empty() => {
            Err(format!("Teams user id missing in {raw:?}"))
        }
        CommunicationIdentifier::MicrosoftTeamsApp { app_id, .. } if app_id.is_empty() => {
            Err(format!("Teams app id missing in {raw:?}"))
        }
        CommunicationIdentifier::CommunicationUser { id } if id.len() <= "8:acs:".len() => {
            Err(format!("ACS user id missing in {raw:?}"))
        }
        _ => Ok(id),
    }
}

fn parse_teams_app(raw: &str) -> Result<MicrosoftTeamsAppIdentifier, String> {
    let id = parse_participant(raw)?;
    MicrosoftTeamsAppIdentifier::try_from(&id)
}

fn parse_e164(s: &str) -> Result<String, String> {
    let s = s.trim();
    match switchboard_events::normalize_e164(s) {
        Some(n) if n == s => Ok(n),
        Some(n) => Err(format!("{s:?} is not E.164; did you mean {n}?")),
        None => Err(format!(
            "{s:?} is not an E.164 phone number (+<country><number>)"
        )),
    }
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not name=value")),
    }
}

fn parse_reject_reason(s: &str) -> Result<CallRejectReason, String> {
    parse_known(s)
}

fn parse_tones(s: &str) -> Result<Vec<Tone>, String> {
    if s.is_empty() {
        return Err("no keys given".into());
    }
    s.chars()
        .map(|c| {
            Tone::from_key(c).ok_or_else(|| format!("{c:?} is not a keypad key (0-9, A-D, #, *)"))
        })
        .collect()
}

/// Parses a known value of one of the client's string enums.
fn parse_known<T: KnownEnum>(s: &str) -> Result<T, String> {
    T::parse_known(s).ok_or_else(|| format!("{s:?} is not one of {}", T::known().join(", ")))
}

trait KnownEnum: Sized {
    fn parse_known(s: &str) -> Option<Self>;
    fn known() -> &'static [&'static str];
}

macro_rules! known_enum {
    ($($t:ty),*) => {$(
        impl KnownEnum for $t {
            fn parse_known(s: &str) -> Option<Self> {
                <$t>::parse_known(s)
            }
            fn known() -> &'static [&'static str] {
                <$t>::KNOWN
            }
        }
    )*};
}

known_enum!(
    CallRejectReason,
    RecordingContentType,
    RecordingChannelType,
    RecordingFormatType
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ids() {
        assert_eq!(
            parse_participant("8:orgid:1c1e7c5f-0000-4000-8000-000000000001").unwrap(),
            CommunicationIdentifier::teams_user("1c1e7c5f-0000-4000-8000-000000000001")
        );
        assert!(parse_participant(" 4:+14255550123 ").is_ok());
        assert!(parse_participant("28:orgid:app").is_ok());
        assert!(parse_participant("8:acs:res_user").is_ok());
        for bad in [
            "",
            "bob",
            "4:555-0123",
            "4:+1 425 555 0123",
            "8:orgid:",
            "99:x:y",
            "8:acs:",
        ] {
            assert!(parse_participant(bad).is_err(), "{bad}");
        }
        assert!(parse_participant("4:+1 425 555 0123")
            .unwrap_err()
            .contains("did you mean 4:+14255550123"));
        assert!(parse_teams_app("8:orgid:x").is_err());
        assert_eq!(parse_teams_app("28:orgid:app").unwrap().app_id, "app");
    }

    #[test]
    fn small_parsers() {
        assert_eq!(parse_e164("+14255550123").unwrap(), "+14255550123");
        assert!(parse_e164("4255550123").is_err());
        assert_eq!(
            parse_header("x-a=b=c").unwrap(),
            ("x-a".into(), "b=c".into())
        );
        assert!(parse_header("=v").is_err());
        assert_eq!(parse_tones("1#").unwrap(), vec![Tone::One, Tone::Pound]);
        assert!(parse_tones("x").is_err());
        assert_eq!(parse_reject_reason("Busy").unwrap(), CallRejectReason::Busy);
        assert!(parse_known::<RecordingFormatType>("flac")
            .unwrap_err()
            .contains("wav, mp3, mp4"));
    }
}
