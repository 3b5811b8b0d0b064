//! Media models: play, recognize (DTMF for IVR), hold / unhold.

use serde::{Deserialize, Serialize};
use switchboard_events::{CommunicationIdentifier, OperationContext};

use super::enums::{PlaySourceType, RecognizeInputType, Tone, VoiceKind};
use super::validate::{
    check_identifier, check_non_empty, check_opt_uri, check_range, check_uri, Validate,
};

/// `FileSource`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSource {
    /// URI of a WAV file the service can fetch.
    pub uri: String,
}

/// `TextSource`: text to speech.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextSource {
    /// What to say.
    pub text: String,
    /// Locale, e.g. `en-US`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_locale: Option<String>,
    /// Voice gender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_kind: Option<VoiceKind>,
    /// Neural voice name, e.g. `en-US-NancyNeural`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_name: Option<String>,
    /// Custom voice endpoint id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_voice_endpoint_id: Option<String>,
}

/// `SsmlSource`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SsmlSource {
    /// The SSML document.
    pub ssml_text: String,
    /// Custom voice endpoint id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_voice_endpoint_id: Option<String>,
}

/// `PlaySource`: one prompt. Build with [`PlaySource::file`], [`PlaySource::text`] or
/// [`PlaySource::ssml`], which keep `kind` and the sub-object consistent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaySource {
    /// Which of the sub-objects is set.
    pub kind: PlaySourceType,
    /// Cache id for a file the service may already hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play_source_cache_id: Option<String>,
    /// Set when `kind` is `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSource>,
    /// Set when `kind` is `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextSource>,
    /// Set when `kind` is `ssml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssml: Option<SsmlSource>,
}

impl PlaySource {
    /// Play an audio file.
    pub fn file(uri: impl Into<String>) -> Self {
        Self {
            kind: PlaySourceType::File,
            play_source_cache_id: None,
            file: Some(FileSource { uri: uri.into() }),
            text: None,
            ssml: None,
        }
    }

    /// Say `text` with the service's default voice.
    pub fn text(text: impl Into<String>) -> Self {
        Self::text_source(TextSource {
            text: text.into(),
            source_locale: None,
            voice_kind: None,
            voice_name: None,
            custom_voice_endpoint_id: None,
        })
    }

    /// Say text with full voice options.
    pub fn text_source(source: TextSource) -> Self {
        Self {
            kind: PlaySourceType::Text,
            play_source_cache_id: None,
            file: None,
            text: Some(source),
            ssml: None,
        }
    }

    /// Speak an SSML document.
    pub fn ssml(ssml: impl Into<String>) -> Self {
        Self {
            kind: PlaySourceType::Ssml,
            play_source_cache_id: None,
            file: None,
            text: None,
            ssml: Some(SsmlSource {
                ssml_text: ssml.into(),
                custom_voice_endpoint_id: None,
            }),
        }
    }

    /// Sets the voice name and locale of a text source (no effect on other kinds).
    pub fn with_voice(mut self, voice_name: Option<String>, locale: Option<String>) -> Self {
        if let Some(t) = &mut self.text {
            t.voice_name = voice_name;
            t.source_locale = locale;
        }
        self
    }

    fn check(&self, field: &str) -> Result<(), String> {
        let consistent = match &self.kind {
            PlaySourceType::File => {
                self.file.is_some() && self.text.is_none() && self.ssml.is_none()
            }
            PlaySourceType::Text => {
                self.text.is_some() && self.file.is_none() && self.ssml.is_none()
            }
            PlaySourceType::Ssml => {
                self.ssml.is_some() && self.file.is_none() && self.text.is_none()
            }
            PlaySourceType::Other(_) => true,
        };
        if !consistent {
            return Err(format!(
                "{field}: kind {} needs exactly the matching source object",
                self.kind
            ));
        }
        if let Some(f) = &self.file {
            check_uri(&format!("{field}.file.uri"), &f.uri)?;
        }
        if let Some(t) = &self.text {
            check_non_empty(&format!("{field}.text.text"), &t.text)?;
        }
        if let Some(s) = &self.ssml {
            check_non_empty(&format!("{field}.ssml.ssmlText"), &s.ssml_text)?;
        }
        Ok(())
    }
}

/// `PlayOptions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayOptions {
    /// Repeat until cancelled.
    #[serde(rename = "loop")]
    pub loop_: bool,
}

/// `PlayRequest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayRequest {
    /// The prompts, played in order.
    pub play_sources: Vec<PlaySource>,
    /// Who hears it; empty means everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub play_to: Vec<CommunicationIdentifier>,
    /// Interrupt whatever media operation is running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt_call_media_operation: Option<bool>,
    /// Loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play_options: Option<PlayOptions>,
    /// Echoed on PlayCompleted/Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
    /// Overrides the call's callback URI for this operation's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_callback_uri: Option<String>,
}

impl PlayRequest {
    /// Play `sources` to everyone.
    pub fn new(sources: Vec<PlaySource>) -> Self {
        Self {
            play_sources: sources,
            play_to: Vec::new(),
            interrupt_call_media_operation: None,
            play_options: None,
            operation_context: None,
            operation_callback_uri: None,
        }
    }
}

impl Validate for PlayRequest {
    fn validate(&self) -> Result<(), String> {
        if self.play_sources.is_empty() {
            return Err("playSources must not be empty".into());
        }
        for (i, s) in self.play_sources.iter().enumerate() {
            s.check(&format!("playSources[{i}]"))?;
        }
        for p in &self.play_to {
            check_identifier("playTo", p)?;
        }
        check_opt_uri("operationCallbackUri", &self.operation_callback_uri)
    }
}

/// `DtmfOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DtmfOptions {
    /// Seconds to wait between tones, 1-60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inter_tone_timeout_in_seconds: Option<u32>,
    /// Stop after this many tones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tones_to_collect: Option<u32>,
    /// Tones that end collection (e.g. `#`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_tones: Vec<Tone>,
}

/// `Choice`: a labelled option for `choices` recognition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Choice {
    /// The label reported when chosen.
    pub label: String,
    /// Phrases that pick it.
    pub phrases: Vec<String>,
    /// A tone that picks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tone: Option<Tone>,
}

/// `SpeechOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeechOptions {
    /// Silence that ends an utterance, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_silence_timeout_in_ms: Option<u32>,
}

/// `RecognizeOptions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecognizeOptions {
    /// Let the caller barge in over the prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt_prompt: Option<bool>,
    /// Seconds of initial silence before giving up, 0-300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_silence_timeout_in_seconds: Option<u32>,
    /// Whose input to recognize.
    pub target_participant: CommunicationIdentifier,
    /// Speech language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_language: Option<String>,
    /// Custom speech model endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_recognition_model_endpoint_id: Option<String>,
    /// DTMF settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtmf_options: Option<DtmfOptions>,
    /// Choices, for `choices` recognition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    /// Speech settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_options: Option<SpeechOptions>,
}

/// `RecognizeRequest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecognizeRequest {
    /// What to listen for.
    pub recognize_input_type: RecognizeInputType,
    /// One prompt (older form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play_prompt: Option<PlaySource>,
    /// Prompts played before listening.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub play_prompts: Vec<PlaySource>,
    /// Interrupt whatever media operation is running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt_call_media_operation: Option<bool>,
    /// Recognition settings.
    pub recognize_options: RecognizeOptions,
    /// Echoed on RecognizeCompleted/Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
    /// Overrides the call's callback URI for this operation's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_callback_uri: Option<String>,
}

impl RecognizeRequest {
    /// Collect up to `max_tones` DTMF tones from `target` after `prompt` (the IVR menu case).
    pub fn dtmf(
        target: CommunicationIdentifier,
        prompt: Option<PlaySource>,
        max_tones: u32,
    ) -> Self {
        Self {
            recognize_input_type: RecognizeInputType::Dtmf,
            play_prompt: None,
            play_prompts: prompt.into_iter().collect(),
            interrupt_call_media_operation: None,
            recognize_options: RecognizeOptions {
                interrupt_prompt: Some(true),
                initial_silence_timeout_in_seconds: None,
                target_participant: target,
                speech_language: None,
                speech_recognition_model_endpoint_id: None,
                dtmf_options: Some(DtmfOptions {
                    inter_tone_timeout_in_seconds: None,
                    max_tones_to_collect: Some(max_tones),
                    stop_tones: Vec::new(),
                }),
                choices: Vec::new(),
                speech_options: None,
            },
            operation_context: None,
            operation_callback_uri: None,
        }
    }
}

impl Validate for RecognizeRequest {
    fn validate(&self) -> Result<(), String> {
        let o = &self.recognize_options;
        check_identifier("recognizeOptions.targetParticipant", &o.target_participant)?;
        check_range(
            "recognizeOptions.initialSilenceTimeoutInSeconds",
            o.initial_silence_timeout_in_seconds,
            0,
            300,
        )?;
        if let Some(d) = &o.dtmf_options {
            check_range(
                "dtmfOptions.interToneTimeoutInSeconds",
                d.inter_tone_timeout_in_seconds,
                1,
                60,
            )?;
            if d.max_tones_to_collect == Some(0) {
                return Err("dtmfOptions.maxTonesToCollect must be at least 1".into());
            }
            if d.max_tones_to_collect.is_some_and(|m| m > i32::MAX as u32) {
                return Err("dtmfOptions.maxTonesToCollect is too large".into());
            }
        }
        if self.recognize_input_type == RecognizeInputType::Choices && o.choices.is_empty() {
            return Err("choices recognition needs at least one choice".into());
        }
        if let Some(p) = &self.play_prompt {
            p.check("playPrompt")?;
        }
        for (i, p) in self.play_prompts.iter().enumerate() {
            p.check(&format!("playPrompts[{i}]"))?;
        }
        check_opt_uri("operationCallbackUri", &self.operation_callback_uri)
    }
}

/// `HoldRequest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldRequest {
    /// Who to put on hold.
    pub target_participant: CommunicationIdentifier,
    /// Music on hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play_source_info: Option<PlaySource>,
    /// Echoed on HoldFailed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
    /// Overrides the call's callback URI for this operation's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_callback_uri: Option<String>,
}

impl HoldRequest {
    /// Hold `target`, optionally with music.
    pub fn new(target: CommunicationIdentifier, music: Option<PlaySource>) -> Self {
        Self {
            target_participant: target,
            play_source_info: music,
            operation_context: None,
            operation_callback_uri: None,
        }
    }
}

impl Validate for HoldRequest {
    fn validate(&self) -> Result<(), String> {
        check_identifier("targetParticipant", &self.target_participant)?;
        if let Some(p) = &self.play_source_info {
            p.check("playSourceInfo")?;
        }
        check_opt_uri("operationCallbackUri", &self.operation_callback_uri)
    }
}

/// `UnholdRequest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnholdRequest {
    /// Who to take off hold.
    pub target_participant: CommunicationIdentifier,
    /// Operation context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<OperationContext>,
    /// Overrides the call's callback URI for this operation's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_callback_uri: Option<String>,
}

impl UnholdRequest {
    /// Take `target` off hold.
    pub fn new(target: CommunicationIdentifier) -> Self {
        Self {
            target_participant: target,
            operation_context: None,
            operation_callback_uri: None,
        }
    }
}

impl Validate for UnholdRequest {
    fn validate(&self) -> Result<(), String> {
        check_identifier("targetParticipant", &self.target_participant)?;
        check_opt_uri("operationCallbackUri", &self.operation_callback_uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn play_sources_serialize_with_matching_kind() {
        let t = PlaySource::text("Hello")
            .with_voice(Some("en-US-NancyNeural".into()), Some("en-US".into()));
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!({"kind": "text", "text": {"text": "Hello", "sourceLocale": "en-US", "voiceName": "en-US-NancyNeural"}})
        );
        assert_eq!(
            serde_json::to_value(PlayOptions { loop_: true }).unwrap(),
            json!({"loop": true})
        );
        let mut bad = PlaySource::file("https://x/a.wav");
        bad.kind = PlaySourceType::Text;
        assert!(PlayRequest::new(vec![bad]).validate().is_err());
        assert!(PlayRequest::new(vec![]).validate().is_err());
        assert!(PlayRequest::new(vec![PlaySource::file("a.wav")])
            .validate()
            .is_err());
        assert!(PlayRequest::new(vec![PlaySource::ssml("<speak/>")])
            .validate()
            .is_ok());
    }

    #[test]
    fn recognize_ranges() {
        let target = CommunicationIdentifier::phone("+14255550123");
        let mut r = RecognizeRequest::dtmf(target, Some(PlaySource::text("Press 1")), 1);
        assert!(r.validate().is_ok());
        r.recognize_options.initial_silence_timeout_in_seconds = Some(301);
        assert!(r.validate().unwrap_err().contains("between 0 and 300"));
        r.recognize_options.initial_silence_timeout_in_seconds = Some(5);
        if let Some(d) = &mut r.recognize_options.dtmf_options {
            d.inter_tone_timeout_in_seconds = Some(0);
        }
        assert!(r.validate().unwrap_err().contains("between 1 and 60"));
        if let Some(d) = &mut r.recognize_options.dtmf_options {
            d.inter_tone_timeout_in_seconds = Some(5);
            d.max_tones_to_collect = Some(0);
        }
        assert!(r.validate().is_err());
        r.recognize_input_type = RecognizeInputType::Choices;
        if let Some(d) = &mut r.recognize_options.dtmf_options {
            d.max_tones_to_collect = Some(1);
        }
        assert_eq!(
            r.validate().unwrap_err(),
            "choices recognition needs at least one choice"
        );
    }
}
