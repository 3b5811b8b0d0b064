//! Typed request and response models, one per spec definition the client uses.
//!
//! Field names follow the spec (serde `camelCase`); `Option`s and empty lists are left out of
//! the JSON, so every request body validates against the spec's `additionalProperties: false`
//! schemas (the crate's tests check that for every operation). Identifiers are
//! [`switchboard_events::CommunicationIdentifier`]; the few places where the spec wants one
//! specific identifier model (`source`, `sourceCallerIdNumber`, `teamsAppSource`) use the small
//! types in [`identifiers`]. String enums are extensible, as in the Azure SDKs: an unknown
//! value from a newer service becomes `Other(String)` instead of failing the whole response.

#[macro_use]
mod enums;
pub mod call;
pub mod identifiers;
pub mod media;
pub mod participants;
pub mod recording;

pub use call::*;
pub use enums::*;
pub use identifiers::*;
pub use media::*;
pub use participants::*;
pub use recording::*;

/// A check run on a request before it is sent; the message explains what is wrong.
pub(crate) trait Validate {
    fn validate(&self) -> Result<(), String>;
}

/// Rejects callback URIs the service would refuse: they must be absolute http(s) URLs.
pub(crate) fn check_uri(field: &str, value: &str) -> Result<(), String> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(format!(
            "{field} must be an absolute http(s) URL, got {value:?}"
        )),
    }
}

pub(crate) fn check_opt_uri(field: &str, value: &Option<String>) -> Result<(), String> {
    value.as_deref().map_or(Ok(()), |v| check_uri(field, v))
}

pub(crate) fn check_range(
    field: &str,
    value: Option<u32>,
    min: u32,
    max: u32,
) -> Result<(), String> {
    match value {
        Some(v) if v < min || v > max => {
            Err(format!("{field} must be between {min} and {max}, got {v}"))
        }
        _ => Ok(()),
    }
}

pub(crate) fn check_non_empty(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{field} must not be empty"))
    } else {
        Ok(())
    }
}

/// Identifiers whose raw id is empty cannot address anyone.
pub(crate) fn check_identifier(
    field: &str,
    id: &switchboard_events::CommunicationIdentifier,
) -> Result<(), String> {
    if id.raw_id().trim().is_empty() {
        Err(format!("{field} has an empty raw id"))
    } else {
        Ok(())
    }
}
