//! Media operations: play (file / text / SSML, looped or not), recognize (DTMF and DTMF
//! choices with scripted caller tones) and cancel. Like the service, a call runs one media
//! operation at a time and queues the rest; `interruptCallMediaOperation` barges in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;
use switchboard_events::CommunicationIdentifier;

use super::guard::{check_callback_uri, established, live_call, Reply};
use super::model::{
    ActiveMedia, ChoiceSpec, MediaOp, PlayOp, PlaySourceSpec, RecognizeMode, RecognizeOp, SimCall,
    State,
};
use super::{emit, fields, Engine};
use crate::error::ApiError;
use crate::ids::IdGen;
use crate::ledger::{Effect, TimelineKind};
use crate::requests::{PlayRequest, PlaySource, RecognizeRequest};
use crate::wire::{codes, tone_name};

/// Validate play sources the way the service does synchronously (shape only; file format
/// problems surface later as `PlayFailed`).
pub(crate) fn parse_sources(sources: &[PlaySource]) -> Result<Vec<PlaySourceSpec>, ApiError> {
    sources
        .iter()
        .map(|s| match s.kind.as_str() {
            "file" => s
                .file
                .as_ref()
                .map(|f| PlaySourceSpec::File { uri: f.uri.clone() })
                .ok_or_else(|| {
                    ApiError::invalid("Invalid request, a file play source needs 'file'.")
                }),
            "text" => s
                .text
                .as_ref()
                .map(|_| PlaySourceSpec::Text)
                .ok_or_else(|| {
                    ApiError::invalid("Invalid request, a text play source needs 'text'.")
                }),
            "ssml" => s
                .ssml
                .as_ref()
                .map(|_| PlaySourceSpec::Ssml)
                .ok_or_else(|| {
                    ApiError::invalid("Invalid request, an ssml play source needs 'ssml'.")
                }),
            other => Err(ApiError::invalid(format!(
                "Invalid request, unknown play source kind {other:?}."
            ))),
        })
        .collect()
}

/// Index of the first file source the media stack would refuse: ACS plays WAV files
/// (16-bit mono 16 kHz) and MP3 from http(s) URLs.
fn first_bad_file(sources: &[PlaySourceSpec]) -> Option<usize> {
    sources.iter().position(|s| match s {
        PlaySourceSpec::File { uri } => match url::Url::parse(uri) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {
                let path = u.path().to_ascii_lowercase();
                !(path.ends_with(".wav") || path.ends_with(".mp3"))
            }
            _ => true,
        },
        _ => false,
    })
}

fn parse_tone(name: &str) -> Option<char> {
    const KEYS: &str = "0123456789abcd#*";
    KEYS.chars().find(|&k| tone_name(k) == Some(name))
}

impl Engine {
    /// `POST …:play`.
    pub fn play(self: &Arc<Self>, ccid: &str, req: PlayRequest) -> Result<Reply, ApiError> {
        if let Some(uri) = &req.operation_callback_uri {
            check_callback_uri(uri, "OperationCallbackUri")?;
        }
        if req.play_sources.is_empty() {
            return Err(ApiError::invalid(
                "Invalid request, playSources must not be empty.",
            ));
        }
        let sources = parse_sources(&req.play_sources)?;
        let op = MediaOp::Play(PlayOp {
            sources,
            looped: req.play_options.as_ref().is_some_and(|o| o.looped),
            operation_context: req.operation_context,
            callback_override: req.operation_callback_uri,
        });
        let play_to: Vec<String> = req
            .play_to
            .unwrap_or_default()
            .iter()
            .map(CommunicationIdentifier::raw_id)
            .collect();
        self.enqueue_media(
            ccid,
            op,
            req.interrupt_call_media_operation.unwrap_or(false),
            &play_to,
            Effect::Play,
        )?;
        Ok(Reply::empty(StatusCode::ACCEPTED))
    }

    /// `POST …:recognize`.
    pub fn recognize(
        self: &Arc<Self>,
        ccid: &str,
        req: RecognizeRequest,
    ) -> Result<Reply, ApiError> {
        if let Some(uri) = &req.operation_callback_uri {
            check_callback_uri(uri, "OperationCallbackUri")?;
        }
        let timing = self.timing();
        let opts = req.recognize_options;
        let mode = match req.recognize_input_type.as_str() {
            "dtmf" => {
                let d = opts.dtmf_options.as_ref();
                let max = d.and_then(|d| d.max_tones_to_collect).unwrap_or(1);
                if !(1..=128).contains(&max) {
                    return Err(ApiError::invalid("Invalid request, maxTonesToCollect must be between 1 and 128."));
                }
                let stop_tones = d
                    .and_then(|d| d.stop_tones.as_ref())
                    .map(|ts| {
                        ts.iter()
                            .map(|t| parse_tone(t).ok_or_else(|| ApiError::invalid(format!("Invalid request, unknown tone {t:?}."))))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()?
                    .unwrap_or_default();
                RecognizeMode::Dtmf {
                    max_tones: usize::try_from(max).unwrap_or(1),
                    stop_tones,
                }
            }
            "choices" => {
                let choices = opts.choices.as_ref().filter(|c| !c.is_empty()).ok_or_else(|| {
                    ApiError::invalid("Invalid request, choices are required for recognizeInputType 'choices'.")
                })?;
                let mut out = Vec::new();
                for c in choices {
                    let tone = match &c.tone {
                        Some(t) => Some(parse_tone(t).ok_or_else(|| ApiError::invalid(format!("Invalid request, unknown tone {t:?}.")))?),
                        None => None,
                    };
                    out.push(ChoiceSpec {
                        label: c.label.clone(),
                        tone,
                    });
                }
                RecognizeMode::Choices(out)
            }
            "speech" | "speechOrDtmf" => {
                return Err(ApiError::not_supported(
                    "Speech recognition is not supported by the Switchboard simulator (DTMF and DTMF choices are).",
                ))
            }
            other => return Err(ApiError::invalid(format!("Invalid request, unknown recognizeInputType {other:?}."))),
        };
        let prompts = match (&req.play_prompt, &req.play_prompts) {
            (Some(p), None) => parse_sources(std::slice::from_ref(p))?,
            (None, Some(ps)) => parse_sources(ps)?,
            (None, None) => Vec::new(),
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "Invalid request, set playPrompt or playPrompts, not both.",
                ))
            }
        };
        let secs = |s: Option<i64>, default: Duration| {
            s.filter(|&s| s > 0)
                .map(|s| Duration::from_secs(s.unsigned_abs()))
                .unwrap_or(default)
        };
        let op = RecognizeOp {
            mode,
            prompts,
            interrupt_prompt: opts.interrupt_prompt.unwrap_or(false),
            initial_silence: timing.scaled(secs(
                opts.initial_silence_timeout_in_seconds,
                timing.default_initial_silence_timeout,
            )),
            inter_tone: timing.scaled(secs(
                opts.dtmf_options
                    .as_ref()
                    .and_then(|d| d.inter_tone_timeout_in_seconds),
                timing.default_inter_tone_timeout,
            )),
            operation_context: req.operation_context,
            callback_override: req.operation_callback_uri,
        };
        let target = opts.target_participant.raw_id();
        {
            // Recognize has rules of its own, checked before the op is queued.
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
            if conn.has_teams_user() {
                return Err(ApiError::not_supported(
                    "Recognize is not supported while a Microsoft Teams user is in the call. DiagCode: 405#8520.@",
                ));
            }
            match conn.find(&target).and_then(|i| conn.participants.get(i)) {
                Some(p) if !p.is_bot => {}
                _ => {
                    return Err(ApiError::invalid(format!(
                        "Invalid request, target participant {target} is not in the call."
                    )))
                }
            }
        }
        self.enqueue_media(
            ccid,
            MediaOp::Recognize(op),
            req.interrupt_call_media_operation.unwrap_or(false),
            &[],
            Effect::Recognize,
        )?;
        Ok(Reply::empty(StatusCode::ACCEPTED))
    }

    fn enqueue_media(
        self: &Arc<Self>,
        ccid: &str,
        op: MediaOp,
        interrupt: bool,
        play_to: &[String],
        effect: Effect,
    ) -> Result<(), ApiError> {
        let mut guard = self.lock();
        let State {
            ids,
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
        for raw in play_to {
            if conn.find(raw).is_none() {
                return Err(ApiError::invalid(format!(
                    "Invalid request, playTo participant {raw} is not in the call."
                )));
            }
        }
        // Text and SSML need the Azure AI services resource named when the call was set up;
        // the service refuses the request itself, before queueing anything (ADR 0009).
        let needs_ai = match &op {
            MediaOp::Play(p) => p.sources.iter().any(PlaySourceSpec::needs_ai),
            MediaOp::Recognize(r) => r.prompts.iter().any(PlaySourceSpec::needs_ai),
        };
        if needs_ai && conn.cognitive_services_endpoint.is_none() {
            return Err(ApiError::cognitive_services_not_configured());
        }
        let kind = match &op {
            MediaOp::Play(_) => "play queued",
            MediaOp::Recognize(_) => "recognize queued",
        };
        let operation_context = op.operation_context().cloned();
        if interrupt {
            conn.media.queue.push_front(op);
            if let Some(active) = conn.media.active.take() {
                emit(
                    ids,
                    call,
                    active.op.canceled_event(),
                    fields([]),
                    active.op.operation_context(),
                    codes::operation_canceled(),
                    active.op.callback_override(),
                    None,
                );
            }
        } else {
            conn.media.queue.push_back(op);
        }
        self.effect(call, effect);
        let corr = call.correlation_id.clone();
        let start = self.start_next_media(ids, call);
        drop(guard);
        self.note(
            &corr,
            Some(ccid),
            TimelineKind::Call,
            kind,
            json!({"interrupt": interrupt, "operationContext": operation_context}),
        );
        self.schedule_media(ccid, start);
        Ok(())
    }

    /// Start the next queued operation if nothing runs. Returns the (gen, delay) of the tick
    /// to schedule.
    fn start_next_media(&self, ids: &mut IdGen, call: &mut SimCall) -> Option<(u64, Duration)> {
        let timing = self.timing();
        loop {
            let conn = call.conn.as_mut()?;
            if conn.media.active.is_some() {
                return None;
            }
            let op = conn.media.queue.pop_front()?;
            conn.media.gen += 1;
            let gen = conn.media.gen;
            let now = Instant::now();
            match &op {
                MediaOp::Play(p) => {
                    if let Some(i) = first_bad_file(&p.sources) {
                        let f = fields([("failedPlaySourceIndex", json!(i))]);
                        emit(
                            ids,
                            call,
                            "PlayFailed",
                            f,
                            p.operation_context.as_ref(),
                            codes::invalid_file_format(),
                            p.callback_override.as_ref(),
                            None,
                        );
                        continue;
                    }
                    if timing.emit_play_started {
                        emit(
                            ids,
                            call,
                            "PlayStarted",
                            fields([]),
                            p.operation_context.as_ref(),
                            codes::action_completed(),
                            p.callback_override.as_ref(),
                            None,
                        );
                    }
                    let dur = timing.scaled(timing.play_duration)
                        * u32::try_from(p.sources.len()).unwrap_or(1);
                    let conn = call.conn.as_mut()?;
                    conn.media.active = Some(ActiveMedia {
                        op,
                        gen,
                        started: now,
                        listen_at: now,
                        collected: Vec::new(),
                        last_tone_at: None,
                    });
                    return Some((gen, dur));
                }
                MediaOp::Recognize(r) => {
                    if let Some(i) = first_bad_file(&r.prompts) {
                        let f = fields([("failedPlaySourceIndex", json!(i))]);
                        emit(
                            ids,
                            call,
                            "RecognizeFailed",
                            f,
                            r.operation_context.as_ref(),
                            codes::invalid_file_format(),
                            r.callback_override.as_ref(),
                            None,
                        );
                        continue;
                    }
                    let prompt = timing.scaled(timing.play_duration)
                        * u32::try_from(r.prompts.len()).unwrap_or(0);
                    conn.media.active = Some(ActiveMedia {
                        op,
                        gen,
                        started: now,
                        listen_at: now + prompt,
                        collected: Vec::new(),
                        last_tone_at: None,
                    });
                    let first = timing.scaled(timing.recognize_delay);
                    return Some((gen, first));
                }
            }
        }
    }

    fn schedule_media(self: &Arc<Self>, ccid: &str, tick: Option<(u64, Duration)>) {
        if let Some((gen, delay)) = tick {
            let c = ccid.to_owned();
            self.after(delay, move |e| e.media_tick(&c, gen));
        }
    }

    /// A media timer fired: finish a play, or look at the tones a recognize has.
    fn media_tick(self: &Arc<Self>, ccid: &str, gen: u64) {
        let timing = self.timing();
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
        let Some(active) = conn.media.active.as_mut() else {
            return;
        };
        if active.gen != gen {
            return;
        }
        let corr = call.correlation_id.clone();
        let mut next = None;
        match active.op.clone() {
            MediaOp::Play(p) => {
                if p.looped {
                    // Loops until cancelled; keep the timer going so the op stays "running".
                    let dur = timing.scaled(timing.play_duration)
                        * u32::try_from(p.sources.len()).unwrap_or(1);
                    next = Some((gen, dur.max(Duration::from_millis(1))));
                } else {
                    conn.media.active = None;
                    emit(
                        ids,
                        call,
                        "PlayCompleted",
                        fields([]),
                        p.operation_context.as_ref(),
                        codes::action_completed(),
                        p.callback_override.as_ref(),
                        None,
                    );
                    self.note_later(&corr, ccid, "play completed");
                    next = self.start_next_media(ids, call);
                }
            }
            MediaOp::Recognize(r) => {
                if let Some(done) = evaluate(call, &r) {
                    let Some(conn) = call.conn.as_mut() else {
                        return;
                    };
                    conn.media.active = None;
                    let (kind, f, result) = done;
                    emit(
                        ids,
                        call,
                        kind,
                        f,
                        r.operation_context.as_ref(),
                        result,
                        r.callback_override.as_ref(),
                        None,
                    );
                    next = self.start_next_media(ids, call);
                } else if let Some(wait) = next_deadline(call, &r) {
                    next = Some((gen, wait));
                }
            }
        }
        drop(guard);
        self.schedule_media(ccid, next);
    }

    fn note_later(&self, corr: &str, ccid: &str, what: &str) {
        // Called under the state lock: timelines come after state in the lock order.
        self.note(corr, Some(ccid), TimelineKind::Call, what, json!({}));
    }

    /// `POST …:cancelAllMediaOperations`.
    pub fn cancel_all_media(self: &Arc<Self>, ccid: &str) -> Result<Reply, ApiError> {
        let mut guard = self.lock();
        let State {
            ids,
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
        let mut cancelled: Vec<MediaOp> =
            conn.media.active.take().map(|a| a.op).into_iter().collect();
        cancelled.extend(conn.media.queue.drain(..));
        for op in &cancelled {
            emit(
                ids,
                call,
                op.canceled_event(),
                fields([]),
                op.operation_context(),
                codes::operation_canceled(),
                op.callback_override(),
                None,
            );
        }
        self.effect(call, Effect::CancelMedia);
        let corr = call.correlation_id.clone();
        drop(guard);
        self.note(
            &corr,
            Some(ccid),
            TimelineKind::Call,
            "media cancelled",
            json!({"operations": cancelled.len()}),
        );
        Ok(Reply::empty(StatusCode::ACCEPTED))
    }

    /// The caller pressed keys: buffer them and wake a running recognize.
    pub(crate) fn caller_pressed(
        self: &Arc<Self>,
        corr: &str,
        digits: &[char],
    ) -> Result<(), crate::SimError> {
        let delay = self.scaled(self.timing().recognize_delay);
        let mut guard = self.lock();
        let call = guard
            .calls
            .get_mut(corr)
            .ok_or_else(|| crate::SimError::UnknownCall(corr.to_owned()))?;
        call.dtmf.extend(digits.iter().copied());
        let wake = call.conn.as_ref().and_then(|c| {
            let a = c.media.active.as_ref()?;
            matches!(a.op, MediaOp::Recognize(_)).then(|| (c.id.clone(), a.gen))
        });
        let ccid = call.connection_id().map(str::to_owned);
        drop(guard);
        let s: String = digits.iter().collect();
        self.note(
            corr,
            ccid.as_deref(),
            TimelineKind::Caller,
            "dtmf",
            json!({"digits": s}),
        );
        if let Some((ccid, gen)) = wake {
            self.after(delay, move |e| e.media_tick(&ccid, gen));
        }
        Ok(())
    }
}

type Done = (
    &'static str,
    serde_json::Map<String, serde_json::Value>,
    crate::wire::ResultInfo,
);

/// Consume buffered tones for the running recognize; `Some` when it is finished.
fn evaluate(call: &mut SimCall, r: &RecognizeOp) -> Option<Done> {
    let now = Instant::now();
    let conn = call.conn.as_mut()?;
    let active = conn.media.active.as_mut()?;
    // While the prompt plays, tones only count if they may interrupt it.
    let barge_in = r.interrupt_prompt && !call.dtmf.is_empty();
    if now < active.listen_at && !barge_in {
        return None;
    }
    while let Some(key) = call.dtmf.pop_front() {
        active.last_tone_at = Some(now);
        match &r.mode {
            RecognizeMode::Dtmf {
                max_tones,
                stop_tones,
            } => {
                if stop_tones.contains(&key) {
                    return Some(dtmf_done(&active.collected, codes::stop_tone()));
                }
                active.collected.push(key);
                if active.collected.len() >= *max_tones {
                    return Some(dtmf_done(&active.collected, codes::max_digits()));
                }
            }
            RecognizeMode::Choices(choices) => {
                return Some(match choices.iter().find(|c| c.tone == Some(key)) {
                    Some(c) => (
                        "RecognizeCompleted",
                        fields([
                            ("recognitionType", json!("choices")),
                            ("choiceResult", json!({"label": c.label})),
                        ]),
                        codes::choice_matched(),
                    ),
                    None => ("RecognizeFailed", fields([]), codes::incorrect_tone()),
                });
            }
        }
    }
    match active.last_tone_at {
        Some(t) if now >= t + r.inter_tone => {
            Some(dtmf_done(&active.collected, codes::inter_tone_timeout()))
        }
        None if now >= active.listen_at.max(active.started) + r.initial_silence => Some((
            "RecognizeFailed",
            fields([]),
            codes::initial_silence_timeout(),
        )),
        _ => None,
    }
}

fn dtmf_done(collected: &[char], result: crate::wire::ResultInfo) -> Done {
    let tones: Vec<&str> = collected.iter().filter_map(|&k| tone_name(k)).collect();
    (
        "RecognizeCompleted",
        fields([
            ("recognitionType", json!("dtmf")),
            ("dtmfResult", json!({"tones": tones})),
        ]),
        result,
    )
}

/// When to look again if nothing new happens.
fn next_deadline(call: &SimCall, r: &RecognizeOp) -> Option<Duration> {
    let active = call.conn.as_ref()?.media.active.as_ref()?;
    let now = Instant::now();
    let at = if now < active.listen_at {
        active.listen_at
    } else {
        match active.last_tone_at {
            Some(t) => t + r.inter_tone,
            None => active.listen_at + r.initial_silence,
        }
    };
    Some(
        at.saturating_duration_since(now)
            .max(Duration::from_millis(1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_formats() {
        let f = |u: &str| PlaySourceSpec::File { uri: u.into() };
        assert_eq!(
            first_bad_file(&[f("https://x/a.wav"), PlaySourceSpec::Text]),
            None
        );
        assert_eq!(
            first_bad_file(&[f("https://x/a.WAV?sig=1"), f("https://x/b.mp3")]),
            None
        );
        assert_eq!(
            first_bad_file(&[f("https://x/a.wav"), f("https://x/a.ogg")]),
            Some(1)
        );
        assert_eq!(first_bad_file(&[f("not a url")]), Some(0));
        assert_eq!(first_bad_file(&[f("ftp://x/a.wav")]), Some(0));
    }

    #[test]
    fn tone_names_round_trip() {
        for k in "0123456789abcd#*".chars() {
            assert_eq!(parse_tone(tone_name(k).unwrap()), Some(k));
        }
        assert_eq!(parse_tone("hash"), None);
    }
}
