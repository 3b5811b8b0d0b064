//! The single-kind identifier models some fields require instead of the polymorphic
//! `CommunicationIdentifierModel`.

use serde::{Deserialize, Serialize};
use switchboard_events::{CommunicationCloud, CommunicationIdentifier};

/// `CommunicationUserIdentifierModel`: an ACS user (`source`, `answeredBy`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunicationUserIdentifier {
    /// The full id, `8:acs:…`.
    pub id: String,
}

impl CommunicationUserIdentifier {
    /// An ACS user by id.
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into() }
    }
}

impl From<CommunicationUserIdentifier> for CommunicationIdentifier {
    fn from(value: CommunicationUserIdentifier) -> Self {
        CommunicationIdentifier::from_raw_id(&value.id)
    }
}

/// `PhoneNumberIdentifierModel`: a phone number (`sourceCallerIdNumber`, `answeredFor`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumberIdentifier {
    /// E.164 number, e.g. `+14255550123`.
    pub value: String,
    /// True for a withheld number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_anonymous: Option<bool>,
    /// Distinguishes repeated joins of the same number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asserted_id: Option<String>,
}

impl PhoneNumberIdentifier {
    /// A number in E.164 form.
    pub fn new(e164: impl Into<String>) -> Self {
        Self {
            value: e164.into(),
            is_anonymous: None,
            asserted_id: None,
        }
    }
}

impl From<PhoneNumberIdentifier> for CommunicationIdentifier {
    fn from(value: PhoneNumberIdentifier) -> Self {
        CommunicationIdentifier::PhoneNumber {
            is_anonymous: value.is_anonymous.unwrap_or(false),
            value: value.value,
            asserted_id: value.asserted_id,
            raw_id: None,
        }
    }
}

impl TryFrom<&CommunicationIdentifier> for PhoneNumberIdentifier {
    type Error = String;

    fn try_from(id: &CommunicationIdentifier) -> Result<Self, Self::Error> {
        match id {
            CommunicationIdentifier::PhoneNumber {
                value,
                is_anonymous,
                asserted_id,
                ..
            } => Ok(Self {
                value: value.clone(),
                is_anonymous: is_anonymous.then_some(true),
                asserted_id: asserted_id.clone(),
            }),
            other => Err(format!("{} is not a phone number", other.raw_id())),
        }
    }
}

/// `MicrosoftTeamsAppIdentifierModel`: a Teams app / resource account (`teamsAppSource`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MicrosoftTeamsAppIdentifier {
    /// The app id.
    pub app_id: String,
    /// The app's cloud (public when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<CommunicationCloud>,
}

impl MicrosoftTeamsAppIdentifier {
    /// A public-cloud Teams app.
    pub fn new(app_id: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            cloud: None,
        }
    }
}

impl TryFrom<&CommunicationIdentifier> for MicrosoftTeamsAppIdentifier {
    type Error = String;

    fn try_from(id: &CommunicationIdentifier) -> Result<Self, Self::Error> {
        match id {
            CommunicationIdentifier::MicrosoftTeamsApp { app_id, cloud } => Ok(Self {
                app_id: app_id.clone(),
                cloud: Some(*cloud),
            }),
            other => Err(format!("{} is not a Teams app", other.raw_id())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let p = PhoneNumberIdentifier::new("+14255550123");
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"value": "+14255550123"})
        );
        let id: CommunicationIdentifier = p.clone().into();
        assert_eq!(id.raw_id(), "4:+14255550123");
        assert_eq!(PhoneNumberIdentifier::try_from(&id).unwrap(), p);
        assert!(
            PhoneNumberIdentifier::try_from(&CommunicationIdentifier::teams_user("o")).is_err()
        );
        let app = MicrosoftTeamsAppIdentifier::try_from(&CommunicationIdentifier::from_raw_id(
            "28:orgid:app-1",
        ))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&app).unwrap(),
            serde_json::json!({"appId": "app-1", "cloud": "public"})
        );
        let u: CommunicationIdentifier = CommunicationUserIdentifier::new("8:acs:r_u").into();
        assert_eq!(u, CommunicationIdentifier::communication_user("8:acs:r_u"));
    }
}
