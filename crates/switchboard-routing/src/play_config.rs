//! Play sources in the configuration (`text` / `url` / `ssml`, `voice`, `locale`, `loop`):
//! the raw form and its validation, shared by the queue settings that play something.

use serde::Deserialize;
use switchboard_core::ConfigError;

use crate::queue::{Media, PlaySource};

type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// ACS waits at most 300 s for the first tone (`initialSilenceTimeoutInSeconds`).
pub const MAX_IVR_TIMEOUT_SECS: u64 = 300;

/// A play source as written in the configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlay {
    pub(crate) text: Option<String>,
    pub(crate) voice: Option<String>,
    pub(crate) locale: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) ssml: Option<String>,
    #[serde(default, rename = "loop")]
    pub(crate) loop_playback: Option<bool>,
}

/// A play source under `key` from its raw form: exactly one of text, URL, SSML.
pub(crate) fn play_source(key: &str, raw: &RawPlay) -> Result<PlaySource> {
    let given = [&raw.text, &raw.url, &raw.ssml]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if given != 1 {
        return Err(ConfigError::new(
            key,
            "give exactly one of `text`, `url` or `ssml`",
        ));
    }
    if let Some(text) = &raw.text {
        if text.trim().is_empty() {
            return Err(ConfigError::new(format!("{key}.text"), "must not be empty"));
        }
        return Ok(PlaySource::Text {
            text: text.clone(),
            voice: non_empty(&format!("{key}.voice"), &raw.voice)?,
            locale: non_empty(&format!("{key}.locale"), &raw.locale)?,
        });
    }
    if raw.voice.is_some() || raw.locale.is_some() {
        return Err(ConfigError::new(
            key,
            "`voice` and `locale` only apply to `text`",
        ));
    }
    if let Some(u) = &raw.url {
        match url::Url::parse(u) {
            Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => {}
            _ => {
                return Err(ConfigError::new(
                    format!("{key}.url"),
                    format!("{u:?} is not an http(s) URL ACS can fetch"),
                ))
            }
        }
        return Ok(PlaySource::File { url: u.clone() });
    }
    match &raw.ssml {
        Some(ssml) if !ssml.trim().is_empty() => Ok(PlaySource::Ssml { ssml: ssml.clone() }),
        _ => Err(ConfigError::new(format!("{key}.ssml"), "must not be empty")),
    }
}

/// A play source plus whether it loops (`default_loop` unless `loop` is given).
pub(crate) fn media(key: &str, raw: &RawPlay, default_loop: bool) -> Result<Media> {
    Ok(Media {
        source: play_source(key, raw)?,
        loop_playback: raw.loop_playback.unwrap_or(default_loop),
    })
}

/// `None` for a missing value, the trimmed value, or an error naming `key` for an empty one.
pub(crate) fn non_empty(key: &str, v: &Option<String>) -> Result<Option<String>> {
    match v.as_deref().map(str::trim) {
        Some("") => Err(ConfigError::new(key, "must not be empty")),
        other => Ok(other.map(str::to_owned)),
    }
}
