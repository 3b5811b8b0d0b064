//! `queues.<name>.announcements` and `queues.<name>.callback`: what a waiting caller hears
//! about their place in the queue, and the virtual-hold callback offer. Raw forms and their
//! validation; the validated forms are [`crate::queue::WaitAnnouncements`] and
//! [`crate::queue::CallbackOffer`].

use std::time::Duration;

use serde::Deserialize;
use switchboard_core::ConfigError;

use crate::play_config::{non_empty, play_source, RawPlay, MAX_IVR_TIMEOUT_SECS};
use crate::queue::{
    AnnouncementSpeech, CallbackOffer, PlaySource, WaitAnnouncements, DEFAULT_AVERAGE_HANDLE,
};

type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// Announcements closer together than this would leave no room for hold music.
pub(crate) const MIN_ANNOUNCE_EVERY_SECS: u64 = 10;

/// The text spoken when `announcements` gives neither `text` nor `urls`.
pub(crate) const DEFAULT_ANNOUNCEMENT: &str =
    "You are number {position} in the queue. Your estimated wait is about {minutes} minutes.";

/// `announcements` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnnouncements {
    every_secs: Option<u64>,
    first_after_secs: Option<u64>,
    text: Option<String>,
    voice: Option<String>,
    locale: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
    max_number: Option<u32>,
    average_handle_secs: Option<u64>,
}

/// `callback` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCallback {
    offer_after_secs: Option<u64>,
    check_every_secs: Option<u64>,
    prompt: Option<RawPlay>,
    confirmation: Option<RawPlay>,
    digit: Option<String>,
    timeout_secs: Option<u64>,
    expire_after_secs: Option<u64>,
    attempts: Option<u32>,
    retry_after_secs: Option<u64>,
    agent_ring_timeout_secs: Option<u64>,
    customer_ring_timeout_secs: Option<u64>,
}

/// Validates `announcements` under `key` (`queues.<name>.announcements`).
pub(crate) fn announcements(key: &str, raw: &RawAnnouncements) -> Result<WaitAnnouncements> {
    let every = raw.every_secs.unwrap_or(60);
    if every < MIN_ANNOUNCE_EVERY_SECS {
        return Err(ConfigError::new(
            format!("{key}.every_secs"),
            format!("must be at least {MIN_ANNOUNCE_EVERY_SECS}"),
        ));
    }
    let first_after = raw.first_after_secs.unwrap_or(every);
    if first_after == 0 {
        return Err(ConfigError::new(
            format!("{key}.first_after_secs"),
            "must be at least 1",
        ));
    }
    let average_handle = match raw.average_handle_secs {
        Some(0) => {
            return Err(ConfigError::new(
                format!("{key}.average_handle_secs"),
                "must be at least 1",
            ))
        }
        Some(s) => Duration::from_secs(s),
        None => DEFAULT_AVERAGE_HANDLE,
    };
    let speech = if raw.urls.is_empty() {
        if raw.max_number.is_some() {
            return Err(ConfigError::new(
                format!("{key}.max_number"),
                "only applies to recorded `urls`",
            ));
        }
        let template = non_empty(&format!("{key}.text"), &raw.text)?
            .unwrap_or_else(|| DEFAULT_ANNOUNCEMENT.to_owned());
        check_template(&format!("{key}.text"), &template)?;
        AnnouncementSpeech::Text {
            template,
            voice: non_empty(&format!("{key}.voice"), &raw.voice)?,
            locale: non_empty(&format!("{key}.locale"), &raw.locale)?,
        }
    } else {
        if raw.text.is_some() || raw.voice.is_some() || raw.locale.is_some() {
            return Err(ConfigError::new(
                key,
                "give either `text` (with `voice`, `locale`) or recorded `urls`, not both",
            ));
        }
        for (i, u) in raw.urls.iter().enumerate() {
            let k = format!("{key}.urls[{i}]");
            check_template(&k, u)?;
            // The placeholders are filled with digits, so any number stands in for them.
            let sample = u.replace("{position}", "1").replace("{minutes}", "1");
            match url::Url::parse(&sample) {
                Ok(p) if matches!(p.scheme(), "https" | "http") => {}
                _ => {
                    return Err(ConfigError::new(
                        k,
                        format!("{u:?} is not an http(s) URL ACS can fetch"),
                    ))
                }
            }
        }
        let max_number = raw.max_number.unwrap_or(20);
        if max_number == 0 {
            return Err(ConfigError::new(
                format!("{key}.max_number"),
                "must be at least 1",
            ));
        }
        AnnouncementSpeech::Recorded {
            urls: raw.urls.clone(),
            max_number,
        }
    };
    Ok(WaitAnnouncements {
        every: Duration::from_secs(every),
        first_after: Duration::from_secs(first_after),
        speech,
        average_handle,
    })
}

/// Only `{position}` and `{minutes}` may appear in braces.
fn check_template(key: &str, template: &str) -> Result<()> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(ConfigError::new(key, "unclosed `{`"));
        };
        let name = &after[..close];
        if name != "position" && name != "minutes" {
            return Err(ConfigError::new(
                key,
                format!("unknown placeholder {{{name}}}: use {{position}} and {{minutes}}"),
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// Validates `callback` under `key` (`queues.<name>.callback`).
pub(crate) fn callback(key: &str, raw: &RawCallback) -> Result<CallbackOffer> {
    let at_least_1 = |name: &str, v: Option<u64>, default: u64| -> Result<Duration> {
        match v {
            Some(0) => Err(ConfigError::new(
                format!("{key}.{name}"),
                "must be at least 1",
            )),
            Some(s) => Ok(Duration::from_secs(s)),
            None => Ok(Duration::from_secs(default)),
        }
    };
    let digit = raw.digit.clone().unwrap_or_else(|| "1".to_owned());
    let one_tone = digit.chars().count() == 1
        && digit
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#'));
    if !one_tone {
        return Err(ConfigError::new(
            format!("{key}.digit"),
            "one DTMF tone (0-9, * or #)",
        ));
    }
    let timeout = at_least_1("timeout_secs", raw.timeout_secs, 8)?;
    if timeout.as_secs() > MAX_IVR_TIMEOUT_SECS {
        return Err(ConfigError::new(
            format!("{key}.timeout_secs"),
            format!(
                "must be 1–{} (ACS's limit for the first tone)",
                MAX_IVR_TIMEOUT_SECS
            ),
        ));
    }
    let attempts = raw.attempts.unwrap_or(3);
    if attempts == 0 {
        return Err(ConfigError::new(
            format!("{key}.attempts"),
            "must be at least 1",
        ));
    }
    // Both legs are invitations Call Automation rings for at most 180 s.
    let ring = |name: &str, v: Option<u64>, default: u64| -> Result<Duration> {
        match v.unwrap_or(default) {
            s @ 1..=MAX_RING_SECS => Ok(Duration::from_secs(s)),
            _ => Err(ConfigError::new(
                format!("{key}.{name}"),
                format!("must be 1–{MAX_RING_SECS} (Call Automation's invitation timeout)"),
            )),
        }
    };
    let agent_ring_timeout = ring("agent_ring_timeout_secs", raw.agent_ring_timeout_secs, 20)?;
    let customer_ring_timeout = ring(
        "customer_ring_timeout_secs",
        raw.customer_ring_timeout_secs,
        30,
    )?;
    let prompt = match &raw.prompt {
        Some(p) => play_source(&format!("{key}.prompt"), p)?,
        None => text(&format!(
            "To keep your place and be called back, press {digit}. To keep waiting, stay on the line."
        )),
    };
    let confirmation = match &raw.confirmation {
        Some(p) => play_source(&format!("{key}.confirmation"), p)?,
        None => {
            text("Thank you. You keep your place in the queue and we will call you back. Goodbye.")
        }
    };
    Ok(CallbackOffer {
        offer_after: at_least_1("offer_after_secs", raw.offer_after_secs, 300)?,
        check_every: at_least_1("check_every_secs", raw.check_every_secs, 30)?,
        prompt,
        confirmation,
        digit,
        timeout,
        expire_after: at_least_1("expire_after_secs", raw.expire_after_secs, 4 * 3600)?,
        attempts,
        retry_after: at_least_1("retry_after_secs", raw.retry_after_secs, 60)?,
        agent_ring_timeout,
        customer_ring_timeout,
    })
}

/// Longest invitation Call Automation rings (`invitationTimeoutInSeconds`, 0–180).
const MAX_RING_SECS: u64 = 180;

fn text(s: &str) -> PlaySource {
    PlaySource::Text {
        text: s.to_owned(),
        voice: None,
        locale: None,
    }
}
