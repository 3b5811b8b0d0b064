//! The checks a request runs before it is sent ([`Validate`]) and the field checks they are
//! built from.

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
