//! ACS communication identifiers (`CommunicationIdentifierModel`).
//!
//! On the wire an identifier is a polymorphic object: `kind`, `rawId` and at most one
//! sub-object named after the kind (`communicationUser`, `phoneNumber`, ...). Payloads in
//! the wild vary: 2022 docs spell the kind `PhoneNumber`, 2022 callbacks carry participants
//! with only a `rawId`, requests built by SDKs omit `kind`, and new kinds appear over time.
//! [`CommunicationIdentifier`] is the one typed form for all of them:
//!
//! * **Reading** trusts the typed sub-object when it matches the kind, and otherwise infers
//!   the kind from the `rawId` prefix exactly as the official SDKs' `fromRawId` do. A kind
//!   we do not know becomes [`CommunicationIdentifier::Unknown`] holding the `rawId`.
//! * **Writing** always emits `kind`, `rawId` and the one matching sub-object, which is
//!   valid against `common.json` (2025-06-30).
//! * [`CommunicationIdentifier::raw_id`] is the canonical key (use it in stores and maps);
//!   it is derived with the SDK rules when the wire form did not carry one.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::TeamsUserId;

const PHONE_PREFIX: &str = "4:";
const PHONE_ANONYMOUS: &str = "anonymous";
const TEAMS_APP_PUBLIC: &str = "28:orgid:";
const TEAMS_APP_DOD: &str = "28:dod:";
const TEAMS_APP_GCCH: &str = "28:gcch:";
const TEAMS_USER_ANONYMOUS: &str = "8:teamsvisitor:";
const TEAMS_USER_PUBLIC: &str = "8:orgid:";
const TEAMS_USER_DOD: &str = "8:dod:";
const TEAMS_USER_GCCH: &str = "8:gcch:";
const ACS_USER: &str = "8:acs:";
const ACS_USER_DOD: &str = "8:dod-acs:";
const ACS_USER_GCCH: &str = "8:gcch-acs:";
const SPOOL_USER: &str = "8:spool:";

/// The Microsoft cloud an identifier belongs to (`CommunicationCloudEnvironmentModel`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CommunicationCloud {
    /// Commercial cloud; the default when the wire omits `cloud`.
    #[default]
    Public,
    /// US Department of Defense cloud.
    Dod,
    /// US Government Community Cloud High.
    Gcch,
}

impl CommunicationCloud {
    /// The wire spelling: `public`, `dod` or `gcch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Dod => "dod",
            Self::Gcch => "gcch",
        }
    }

    /// Parses the wire spelling, case-insensitively. `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("public") {
            Some(Self::Public)
        } else if s.eq_ignore_ascii_case("dod") {
            Some(Self::Dod)
        } else if s.eq_ignore_ascii_case("gcch") {
            Some(Self::Gcch)
        } else {
            None
        }
    }
}

impl fmt::Display for CommunicationCloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A participant or target in ACS: an ACS user, a phone number, a Teams user, a Teams app
/// (resource account / bot), a Teams Phone extension user, or something newer we only know
/// by its raw id.
///
/// Equality is structural; two identifiers with the same [`raw_id`](Self::raw_id) parsed
/// from different wire shapes compare equal because the wire `rawId` is only kept where it
/// adds information (see [`PhoneNumber::raw_id`](Self::PhoneNumber)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CommunicationIdentifier {
    /// An ACS user (`8:acs:...`, `8:spool:...`, `8:dod-acs:...`, `8:gcch-acs:...`).
    CommunicationUser {
        /// The full id, which is also its raw id.
        id: String,
    },
    /// A phone number.
    PhoneNumber {
        /// Usually E.164 (`+14255550123`); `anonymous` for a withheld caller id.
        value: String,
        /// True for a withheld caller id.
        is_anonymous: bool,
        /// Set when the same number joins the same call more than once.
        asserted_id: Option<String>,
        /// The wire `rawId`, kept only when it differs from the one derived from the other
        /// fields (so equality does not depend on whether the wire carried a `rawId`).
        raw_id: Option<String>,
    },
    /// A Microsoft Teams user (an agent, in Switchboard's case).
    MicrosoftTeamsUser {
        /// Entra ID object id (OID) unless anonymous.
        user_id: String,
        /// True for anonymous meeting guests (`8:teamsvisitor:`).
        is_anonymous: bool,
        /// The cloud of the user's tenant.
        cloud: CommunicationCloud,
    },
    /// A Teams application (resource account / bot), `28:orgid:<appId>` and friends.
    MicrosoftTeamsApp {
        /// The application id.
        app_id: String,
        /// The cloud of the app's tenant.
        cloud: CommunicationCloud,
    },
    /// A Teams Phone user extended through an ACS resource,
    /// `8:acs:<resourceId>_<tenantId>_<userId>`.
    TeamsExtensionUser {
        /// Entra ID object id of the user.
        user_id: String,
        /// The user's tenant id.
        tenant_id: String,
        /// The ACS resource id.
        resource_id: String,
        /// The cloud.
        cloud: CommunicationCloud,
    },
    /// A kind this crate does not model; the raw id is all we keep.
    Unknown {
        /// The raw id, verbatim.
        raw_id: String,
    },
}

impl CommunicationIdentifier {
    /// A Teams user in the public cloud, not anonymous.
    pub fn teams_user(oid: impl Into<String>) -> Self {
        Self::MicrosoftTeamsUser {
            user_id: oid.into(),
            is_anonymous: false,
            cloud: CommunicationCloud::Public,
        }
    }

    /// A phone number (E.164, e.g. `+14255550123`).
    pub fn phone(e164: impl Into<String>) -> Self {
        let value = e164.into();
        let is_anonymous = value == PHONE_ANONYMOUS;
        Self::PhoneNumber {
            value,
            is_anonymous,
            asserted_id: None,
            raw_id: None,
        }
    }

    /// An ACS user by its full id (`8:acs:...`).
    pub fn communication_user(id: impl Into<String>) -> Self {
        Self::CommunicationUser { id: id.into() }
    }

    /// The canonical string form: the wire `rawId` when it carried information, otherwise
    /// derived like the official SDKs do (`4:+E164`, `4:anonymous`, `4:+E164_<assertedId>`,
    /// `8:orgid:<oid>`, `8:dod:<oid>`, `8:gcch:<oid>`, `8:teamsvisitor:<oid>`,
    /// `28:orgid:<appId>`, `8:acs:<resourceId>_<tenantId>_<userId>`, ...).
    pub fn raw_id(&self) -> String {
        match self {
            Self::CommunicationUser { id } => id.clone(),
            Self::PhoneNumber {
                value,
                is_anonymous,
                asserted_id,
                raw_id,
            } => match raw_id {
                Some(raw) => raw.clone(),
                None => phone_raw_id(value, *is_anonymous, asserted_id.as_deref()),
            },
            Self::MicrosoftTeamsUser {
                user_id,
                is_anonymous,
                cloud,
            } => {
                let prefix = if *is_anonymous {
                    TEAMS_USER_ANONYMOUS
                } else {
                    match cloud {
                        CommunicationCloud::Public => TEAMS_USER_PUBLIC,
                        CommunicationCloud::Dod => TEAMS_USER_DOD,
                        CommunicationCloud::Gcch => TEAMS_USER_GCCH,
                    }
                };
                format!("{prefix}{user_id}")
            }
            Self::MicrosoftTeamsApp { app_id, cloud } => {
                let prefix = match cloud {
                    CommunicationCloud::Public => TEAMS_APP_PUBLIC,
                    CommunicationCloud::Dod => TEAMS_APP_DOD,
                    CommunicationCloud::Gcch => TEAMS_APP_GCCH,
                };
                format!("{prefix}{app_id}")
            }
            Self::TeamsExtensionUser {
                user_id,
                tenant_id,
                resource_id,
                cloud,
            } => {
                let prefix = match cloud {
                    CommunicationCloud::Public => ACS_USER,
                    CommunicationCloud::Dod => ACS_USER_DOD,
                    CommunicationCloud::Gcch => ACS_USER_GCCH,
                };
                format!("{prefix}{resource_id}_{tenant_id}_{user_id}")
            }
            Self::Unknown { raw_id } => raw_id.clone(),
        }
    }

    /// Rebuilds an identifier from its raw id, inferring the kind from the prefix with the
    /// rules of the official SDKs (.NET/Java `FromRawId`): `4:` phone; exactly three
    /// `:`-separated segments for everything else; `8:acs:`/`8:dod-acs:`/`8:gcch-acs:` with
    /// a suffix of exactly three `_`-separated parts is a Teams extension user, otherwise an
    /// ACS user; anything unrecognised is [`Unknown`](Self::Unknown).
    pub fn from_raw_id(raw: &str) -> Self {
        if let Some(number) = raw.strip_prefix(PHONE_PREFIX) {
            return phone_from_raw(number, raw);
        }
        let segments: Vec<&str> = raw.split(':').collect();
        if segments.len() != 3 {
            return Self::Unknown {
                raw_id: raw.to_owned(),
            };
        }
        let prefix_len = segments[0].len() + segments[1].len() + 2;
        let (prefix, suffix) = raw.split_at(prefix_len);
        let teams_user = |is_anonymous, cloud| Self::MicrosoftTeamsUser {
            user_id: suffix.to_owned(),
            is_anonymous,
            cloud,
        };
        let teams_app = |cloud| Self::MicrosoftTeamsApp {
            app_id: suffix.to_owned(),
            cloud,
        };
        match prefix {
            TEAMS_USER_ANONYMOUS => teams_user(true, CommunicationCloud::Public),
            TEAMS_USER_PUBLIC => teams_user(false, CommunicationCloud::Public),
            TEAMS_USER_DOD => teams_user(false, CommunicationCloud::Dod),
            TEAMS_USER_GCCH => teams_user(false, CommunicationCloud::Gcch),
            SPOOL_USER => Self::communication_user(raw),
            ACS_USER => acs_or_extension(raw, suffix, CommunicationCloud::Public),
            ACS_USER_DOD => acs_or_extension(raw, suffix, CommunicationCloud::Dod),
            ACS_USER_GCCH => acs_or_extension(raw, suffix, CommunicationCloud::Gcch),
            TEAMS_APP_PUBLIC => teams_app(CommunicationCloud::Public),
            TEAMS_APP_DOD => teams_app(CommunicationCloud::Dod),
            TEAMS_APP_GCCH => teams_app(CommunicationCloud::Gcch),
            _ => Self::Unknown {
                raw_id: raw.to_owned(),
            },
        }
    }

    /// The wire kind: `communicationUser`, `phoneNumber`, `microsoftTeamsUser`,
    /// `microsoftTeamsApp`, `teamsExtensionUser` or `unknown`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CommunicationUser { .. } => "communicationUser",
            Self::PhoneNumber { .. } => "phoneNumber",
            Self::MicrosoftTeamsUser { .. } => "microsoftTeamsUser",
            Self::MicrosoftTeamsApp { .. } => "microsoftTeamsApp",
            Self::TeamsExtensionUser { .. } => "teamsExtensionUser",
            Self::Unknown { .. } => "unknown",
        }
    }

    /// The Entra object id of a non-anonymous Teams user (or Teams extension user): the key
    /// the roster and Graph presence use.
    pub fn teams_user_id(&self) -> Option<TeamsUserId> {
        match self {
            Self::MicrosoftTeamsUser {
                user_id,
                is_anonymous: false,
                ..
            }
            | Self::TeamsExtensionUser { user_id, .. } => Some(TeamsUserId::from(user_id.as_str())),
            _ => None,
        }
    }

    /// The phone number, if this is a non-anonymous phone identifier.
    pub fn phone_number(&self) -> Option<&str> {
        match self {
            Self::PhoneNumber {
                value,
                is_anonymous: false,
                ..
            } => Some(value),
            _ => None,
        }
    }

    /// The phone number normalised to E.164 (`+` and digits only), if this is a
    /// non-anonymous phone identifier whose value can be read as one.
    pub fn e164(&self) -> Option<String> {
        self.phone_number().and_then(normalize_e164)
    }
}

impl fmt::Display for CommunicationIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw_id())
    }
}

/// Normalises a phone number to E.164: strips spaces and the usual punctuation
/// (`-`, `.`, `(`, `)`), and adds the leading `+` when the input is bare digits (old JS
/// SDKs wrote `4:<digits>`). `None` if what remains is not `+` followed by 1 to 15 digits.
pub fn normalize_e164(input: &str) -> Option<String> {
    let cleaned: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        .collect();
    let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("+{digits}"))
}

fn phone_raw_id(value: &str, is_anonymous: bool, asserted_id: Option<&str>) -> String {
    if is_anonymous {
        return format!("{PHONE_PREFIX}{PHONE_ANONYMOUS}");
    }
    match asserted_id {
        Some(a) if !a.is_empty() => format!("{PHONE_PREFIX}{value}_{a}"),
        _ => format!("{PHONE_PREFIX}{value}"),
    }
}

/// `number` is the raw id without `4:`. An asserted id follows the last `_` (a real E.164
/// number never contains `_`), mirroring the Python SDK's parsing.
fn phone_from_raw(number: &str, raw: &str) -> CommunicationIdentifier {
    if number == PHONE_ANONYMOUS {
        return CommunicationIdentifier::PhoneNumber {
            value: PHONE_ANONYMOUS.to_owned(),
            is_anonymous: true,
            asserted_id: None,
            raw_id: None,
        };
    }
    let (value, asserted_id) = match number.rfind('_') {
        Some(i) if i > 0 && i + 1 < number.len() => {
            (&number[..i], Some(number[i + 1..].to_owned()))
        }
        _ => (number, None),
    };
    phone_with_raw(value.to_owned(), false, asserted_id, Some(raw.to_owned()))
}

/// Builds a phone identifier, keeping the wire raw id only if it differs from the derived one.
fn phone_with_raw(
    value: String,
    is_anonymous: bool,
    asserted_id: Option<String>,
    raw_id: Option<String>,
) -> CommunicationIdentifier {
    let derived = phone_raw_id(&value, is_anonymous, asserted_id.as_deref());
    let raw_id = raw_id.filter(|r| *r != derived);
    CommunicationIdentifier::PhoneNumber {
        value,
        is_anonymous,
        asserted_id,
        raw_id,
    }
}

fn acs_or_extension(raw: &str, suffix: &str, cloud: CommunicationCloud) -> CommunicationIdentifier {
    let parts: Vec<&str> = suffix.split('_').collect();
    if let [resource_id, tenant_id, user_id] = parts.as_slice() {
        CommunicationIdentifier::TeamsExtensionUser {
            user_id: (*user_id).to_owned(),
            tenant_id: (*tenant_id).to_owned(),
            resource_id: (*resource_id).to_owned(),
            cloud,
        }
    } else {
        CommunicationIdentifier::communication_user(raw)
    }
}

// ---------------------------------------------------------------------------------------
// Wire model

/// Why a JSON object could not be read as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    /// Neither a usable typed sub-object nor a `rawId`.
    #[error("identifier has no rawId and no usable typed sub-object{}", .kind.as_ref().map(|k| format!(" (kind {k:?})")).unwrap_or_default())]
    Empty {
        /// The `kind` the object claimed, if any.
        kind: Option<String>,
    },
    /// A `cloud` value outside public|dod|gcch and no `rawId` to fall back on.
    #[error("identifier has unknown cloud {cloud:?} and no rawId")]
    UnknownCloud {
        /// The value seen.
        cloud: String,
    },
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireIdentifier {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    raw_id: Option<String>,
    #[serde(default)]
    communication_user: Option<WireCommunicationUser>,
    #[serde(default)]
    phone_number: Option<WirePhoneNumber>,
    #[serde(default)]
    microsoft_teams_user: Option<WireTeamsUser>,
    #[serde(default)]
    microsoft_teams_app: Option<WireTeamsApp>,
    #[serde(default)]
    teams_extension_user: Option<WireTeamsExtensionUser>,
}

#[derive(Deserialize)]
struct WireCommunicationUser {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePhoneNumber {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    is_anonymous: Option<bool>,
    #[serde(default)]
    asserted_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTeamsUser {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    is_anonymous: Option<bool>,
    #[serde(default)]
    cloud: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTeamsApp {
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    cloud: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTeamsExtensionUser {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    resource_id: Option<String>,
    #[serde(default)]
    cloud: Option<String>,
}

/// Which typed shape the wire object claims to be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WireKind {
    CommunicationUser,
    PhoneNumber,
    MicrosoftTeamsUser,
    MicrosoftTeamsApp,
    TeamsExtensionUser,
}

impl WireKind {
    fn parse(kind: &str) -> Option<Self> {
        const ALL: [(&str, WireKind); 5] = [
            ("communicationUser", WireKind::CommunicationUser),
            ("phoneNumber", WireKind::PhoneNumber),
            ("microsoftTeamsUser", WireKind::MicrosoftTeamsUser),
            ("microsoftTeamsApp", WireKind::MicrosoftTeamsApp),
            ("teamsExtensionUser", WireKind::TeamsExtensionUser),
        ];
        ALL.iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(kind))
            .map(|(_, k)| *k)
    }
}

/// Reads a cloud; an absent cloud is `public` (spec default). `Err` carries an unknown value.
fn wire_cloud(cloud: Option<&str>) -> Result<CommunicationCloud, String> {
    match cloud {
        None => Ok(CommunicationCloud::Public),
        Some(c) => CommunicationCloud::parse(c).ok_or_else(|| c.to_owned()),
    }
}

impl WireIdentifier {
    /// The kind named by `kind`, or when `kind` is absent the single sub-object present
    /// (SDK-built request bodies omit `kind`).
    fn claimed_kind(&self) -> Option<WireKind> {
        match self.kind.as_deref() {
            Some(k) => WireKind::parse(k),
            None => {
                let present = [
                    (
                        self.communication_user.is_some(),
                        WireKind::CommunicationUser,
                    ),
                    (self.phone_number.is_some(), WireKind::PhoneNumber),
                    (
                        self.microsoft_teams_user.is_some(),
                        WireKind::MicrosoftTeamsUser,
                    ),
                    (
                        self.microsoft_teams_app.is_some(),
                        WireKind::MicrosoftTeamsApp,
                    ),
                    (
                        self.teams_extension_user.is_some(),
                        WireKind::TeamsExtensionUser,
                    ),
                ];
                let mut found = present.iter().filter(|(p, _)| *p).map(|(_, k)| *k);
                match (found.next(), found.next()) {
                    (Some(k), None) => Some(k),
                    _ => None,
                }
            }
        }
    }

    /// Builds the identifier from the typed sub-object of `kind`, if it is complete.
    /// `Ok(None)` = sub-object missing or incomplete; `Err` = unknown cloud value.
    fn typed_sub_object(&self, kind: WireKind) -> Result<Option<CommunicationIdentifier>, String> {
        use CommunicationIdentifier as Id;
        let non_empty =
            |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(match kind {
            WireKind::CommunicationUser => self
                .communication_user
                .as_ref()
                .and_then(|c| non_empty(&c.id))
                .map(|id| Id::CommunicationUser { id }),
            WireKind::PhoneNumber => match &self.phone_number {
                Some(p) => non_empty(&p.value).map(|value| {
                    let is_anonymous = p.is_anonymous.unwrap_or(false);
                    let asserted_id = non_empty(&p.asserted_id);
                    phone_with_raw(value, is_anonymous, asserted_id, non_empty(&self.raw_id))
                }),
                None => None,
            },
            WireKind::MicrosoftTeamsUser => match &self.microsoft_teams_user {
                Some(t) => match non_empty(&t.user_id) {
                    Some(user_id) => Some(Id::MicrosoftTeamsUser {
                        user_id,
                        is_anonymous: t.is_anonymous.unwrap_or(false),
                        cloud: wire_cloud(t.cloud.as_deref())?,
                    }),
                    None => None,
                },
                None => None,
            },
            WireKind::MicrosoftTeamsApp => match &self.microsoft_teams_app {
                Some(t) => match non_empty(&t.app_id) {
                    Some(app_id) => Some(Id::MicrosoftTeamsApp {
                        app_id,
                        cloud: wire_cloud(t.cloud.as_deref())?,
                    }),
                    None => None,
                },
                None => None,
            },
            WireKind::TeamsExtensionUser => match &self.teams_extension_user {
                Some(t) => match (
                    non_empty(&t.user_id),
                    non_empty(&t.tenant_id),
                    non_empty(&t.resource_id),
                ) {
                    (Some(user_id), Some(tenant_id), Some(resource_id)) => {
                        Some(Id::TeamsExtensionUser {
                            user_id,
                            tenant_id,
                            resource_id,
                            cloud: wire_cloud(t.cloud.as_deref())?,
                        })
                    }
                    _ => None,
                },
                None => None,
            },
        })
    }

    fn into_identifier(self) -> Result<CommunicationIdentifier, IdentifierError> {
        let raw_id = self.raw_id.clone().filter(|r| !r.is_empty());
        let typed = match self.claimed_kind() {
            Some(kind) => self.typed_sub_object(kind),
            None => Ok(None),
        };
        match (typed, raw_id) {
            (Ok(Some(id)), _) => Ok(id),
            // Unknown kind, missing/incomplete sub-object or unknown cloud: the rawId is the
            // source of truth, exactly as for an SDK's `fromRawId`.
            (_, Some(raw)) => Ok(CommunicationIdentifier::from_raw_id(&raw)),
            (Err(cloud), None) => Err(IdentifierError::UnknownCloud { cloud }),
            (Ok(None), None) => Err(IdentifierError::Empty { kind: self.kind }),
        }
    }
}

impl<'de> Deserialize<'de> for CommunicationIdentifier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireIdentifier::deserialize(deserializer)?;
        wire.into_identifier().map_err(serde::de::Error::custom)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireOut<'a> {
    kind: &'static str,
    raw_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    communication_user: Option<CommunicationUserOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<PhoneNumberOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    microsoft_teams_user: Option<TeamsUserOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    microsoft_teams_app: Option<TeamsAppOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    teams_extension_user: Option<TeamsExtensionUserOut<'a>>,
}

#[derive(Serialize)]
struct CommunicationUserOut<'a> {
    id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhoneNumberOut<'a> {
    value: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_anonymous: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    asserted_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TeamsUserOut<'a> {
    user_id: &'a str,
    is_anonymous: bool,
    cloud: CommunicationCloud,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TeamsAppOut<'a> {
    app_id: &'a str,
    cloud: CommunicationCloud,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TeamsExtensionUserOut<'a> {
    user_id: &'a str,
    tenant_id: &'a str,
    resource_id: &'a str,
    cloud: CommunicationCloud,
}

impl Serialize for CommunicationIdentifier {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = WireOut {
            kind: self.kind(),
            raw_id: self.raw_id(),
            communication_user: None,
            phone_number: None,
            microsoft_teams_user: None,
            microsoft_teams_app: None,
            teams_extension_user: None,
        };
        match self {
            Self::CommunicationUser { id } => {
                out.communication_user = Some(CommunicationUserOut { id });
            }
            Self::PhoneNumber {
                value,
                is_anonymous,
                asserted_id,
                ..
            } => {
                out.phone_number = Some(PhoneNumberOut {
                    value,
                    is_anonymous: *is_anonymous,
                    asserted_id: asserted_id.as_deref(),
                });
            }
            Self::MicrosoftTeamsUser {
                user_id,
                is_anonymous,
                cloud,
            } => {
                out.microsoft_teams_user = Some(TeamsUserOut {
                    user_id,
                    is_anonymous: *is_anonymous,
                    cloud: *cloud,
                });
            }
            Self::MicrosoftTeamsApp { app_id, cloud } => {
                out.microsoft_teams_app = Some(TeamsAppOut {
                    app_id,
                    cloud: *cloud,
                });
            }
            Self::TeamsExtensionUser {
                user_id,
                tenant_id,
                resource_id,
                cloud,
            } => {
                out.teams_extension_user = Some(TeamsExtensionUserOut {
                    user_id,
                    tenant_id,
                    resource_id,
                    cloud: *cloud,
                });
            }
            Self::Unknown { .. } => {}
        }
        out.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> CommunicationIdentifier {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn raw_ids_are_derived_like_the_sdks() {
        use CommunicationCloud::*;
        let cases = [
            (
                CommunicationIdentifier::phone("+14255550123"),
                "4:+14255550123",
            ),
            (CommunicationIdentifier::phone("anonymous"), "4:anonymous"),
            (
                CommunicationIdentifier::PhoneNumber {
                    value: "+14255550123".into(),
                    is_anonymous: false,
                    asserted_id: Some("abc".into()),
                    raw_id: None,
                },
                "4:+14255550123_abc",
            ),
            (CommunicationIdentifier::teams_user("oid1"), "8:orgid:oid1"),
            (
                CommunicationIdentifier::MicrosoftTeamsUser {
                    user_id: "oid1".into(),
                    is_anonymous: false,
                    cloud: Dod,
                },
                "8:dod:oid1",
            ),
            (
                CommunicationIdentifier::MicrosoftTeamsUser {
                    user_id: "oid1".into(),
                    is_anonymous: false,
                    cloud: Gcch,
                },
                "8:gcch:oid1",
            ),
            (
                CommunicationIdentifier::MicrosoftTeamsUser {
                    user_id: "guest".into(),
                    is_anonymous: true,
                    cloud: Public,
                },
                "8:teamsvisitor:guest",
            ),
            (
                CommunicationIdentifier::MicrosoftTeamsApp {
                    app_id: "app".into(),
                    cloud: Public,
                },
                "28:orgid:app",
            ),
            (
                CommunicationIdentifier::MicrosoftTeamsApp {
                    app_id: "app".into(),
                    cloud: Dod,
                },
                "28:dod:app",
            ),
            (
                CommunicationIdentifier::MicrosoftTeamsApp {
                    app_id: "app".into(),
                    cloud: Gcch,
                },
                "28:gcch:app",
            ),
            (
                CommunicationIdentifier::TeamsExtensionUser {
                    user_id: "u".into(),
                    tenant_id: "t".into(),
                    resource_id: "r".into(),
                    cloud: Public,
                },
                "8:acs:r_t_u",
            ),
            (
                CommunicationIdentifier::TeamsExtensionUser {
                    user_id: "u".into(),
                    tenant_id: "t".into(),
                    resource_id: "r".into(),
                    cloud: Dod,
                },
                "8:dod-acs:r_t_u",
            ),
            (
                CommunicationIdentifier::TeamsExtensionUser {
                    user_id: "u".into(),
                    tenant_id: "t".into(),
                    resource_id: "r".into(),
                    cloud: Gcch,
                },
                "8:gcch-acs:r_t_u",
            ),
            (
                CommunicationIdentifier::communication_user("8:acs:res_user"),
                "8:acs:res_user",
            ),
        ];
        for (id, raw) in cases {
            assert_eq!(id.raw_id(), raw, "{id:?}");
            // And the SDK round trip: fromRawId(rawId) gives back the same identifier.
            assert_eq!(CommunicationIdentifier::from_raw_id(raw), id, "{raw}");
        }
        // Anonymous visitors carry no cloud in the raw id (same in every SDK).
        let guest = CommunicationIdentifier::MicrosoftTeamsUser {
            user_id: "guest".into(),
            is_anonymous: true,
            cloud: Gcch,
        };
        assert_eq!(guest.raw_id(), "8:teamsvisitor:guest");
        assert_eq!(guest.teams_user_id(), None);
    }

    #[test]
    fn from_raw_id_prefix_table() {
        use CommunicationIdentifier as Id;
        assert_eq!(
            Id::from_raw_id("8:spool:abc"),
            Id::communication_user("8:spool:abc")
        );
        assert_eq!(
            Id::from_raw_id("8:dod-acs:res_user"),
            Id::communication_user("8:dod-acs:res_user")
        );
        assert_eq!(
            Id::from_raw_id("8:gcch-acs:res_user"),
            Id::communication_user("8:gcch-acs:res_user")
        );
        assert_eq!(
            Id::from_raw_id(
                "8:acs:1bdaa2b9-9507-4542-bb64-a7b22c00a8d4_00000019-5677-73e6-99c6-593a0d001c71"
            ),
            Id::communication_user(
                "8:acs:1bdaa2b9-9507-4542-bb64-a7b22c00a8d4_00000019-5677-73e6-99c6-593a0d001c71"
            )
        );
        // Anything not exactly three segments, or an unknown prefix, stays unknown.
        for raw in [
            "Sanitized",
            "REDACTED",
            "8:orgid:a:b",
            "28:abc",
            "9:foo:bar",
            "",
            "28:dod-global:x",
        ] {
            assert_eq!(
                Id::from_raw_id(raw),
                Id::Unknown {
                    raw_id: raw.to_owned()
                },
                "{raw}"
            );
        }
        // Phones: bare digits (old JS SDK) keep their value; raw id is preserved exactly.
        let old = Id::from_raw_id("4:14255550123");
        assert_eq!(old.raw_id(), "4:14255550123");
        assert_eq!(old.e164().as_deref(), Some("+14255550123"));
        // Anonymous.
        let anon = Id::from_raw_id("4:anonymous");
        assert_eq!(anon, Id::phone("anonymous"));
        assert_eq!(anon.phone_number(), None);
        // Trailing underscore is not an asserted id.
        let odd = Id::from_raw_id("4:+1425_");
        assert_eq!(odd.raw_id(), "4:+1425_");
        assert!(matches!(
            odd,
            Id::PhoneNumber {
                asserted_id: None,
                ..
            }
        ));
    }

    #[test]
    fn deserialize_full_wire_forms() {
        let teams = parse(json!({
            "kind": "microsoftTeamsUser",
            "rawId": "8:gcch:oid9",
            "microsoftTeamsUser": {"userId": "oid9", "isAnonymous": false, "cloud": "gcch"}
        }));
        assert_eq!(
            teams,
            CommunicationIdentifier::MicrosoftTeamsUser {
                user_id: "oid9".into(),
                is_anonymous: false,
                cloud: CommunicationCloud::Gcch
            }
        );
        assert_eq!(teams.teams_user_id().unwrap(), "oid9");

        // 2022 docs: "PhoneNumber" with a capital P, and a \u002B-escaped plus.
        let phone: CommunicationIdentifier = serde_json::from_str(
            r#"{"kind":"PhoneNumber","rawId":"4:\u002B16045551234","phoneNumber":{"value":"\u002B16045551234"}}"#,
        )
        .unwrap();
        assert_eq!(phone, CommunicationIdentifier::phone("+16045551234"));
        assert_eq!(phone.raw_id(), "4:+16045551234");

        let ext = parse(json!({
            "kind": "teamsExtensionUser",
            "rawId": "8:acs:r_t_u",
            "teamsExtensionUser": {"userId": "u", "tenantId": "t", "resourceId": "r"}
        }));
        assert_eq!(ext.kind(), "teamsExtensionUser");
        assert_eq!(ext.raw_id(), "8:acs:r_t_u");

        let app = parse(
            json!({"kind": "microsoftTeamsApp", "rawId": "28:orgid:a", "microsoftTeamsApp": {"appId": "a", "cloud": null}}),
        );
        assert_eq!(
            app,
            CommunicationIdentifier::MicrosoftTeamsApp {
                app_id: "a".into(),
                cloud: CommunicationCloud::Public
            }
        );
    }

    #[test]
    fn deserialize_tolerates_partial_forms() {
        // rawId only: kind inferred from the prefix.
        assert_eq!(
            parse(json!({"rawId": "8:orgid:oid1"})),
            CommunicationIdentifier::teams_user("oid1")
        );
        // rawId only, opaque: unknown.
        assert_eq!(
            parse(json!({"rawId": "Sanitized"})),
            CommunicationIdentifier::Unknown {
                raw_id: "Sanitized".into()
            }
        );
        // No kind (SDK request form): the single sub-object decides.
        assert_eq!(
            parse(json!({"communicationUser": {"id": "8:acs:x_y"}})),
            CommunicationIdentifier::communication_user("8:acs:x_y")
        );
        // Explicit nulls everywhere but rawId.
        assert_eq!(
            parse(
                json!({"kind": null, "rawId": "4:+1555", "phoneNumber": null, "communicationUser": null})
            ),
            CommunicationIdentifier::phone("+1555")
        );
        // A kind we do not know keeps its rawId.
        assert_eq!(
            parse(
                json!({"kind": "microsoftTeamsBot", "rawId": "99:x:y", "microsoftTeamsBot": {"id": "y"}})
            ),
            CommunicationIdentifier::Unknown {
                raw_id: "99:x:y".into()
            }
        );
        // Explicit "unknown" kind.
        assert_eq!(
            parse(json!({"kind": "unknown", "rawId": "48:abc"})),
            CommunicationIdentifier::Unknown {
                raw_id: "48:abc".into()
            }
        );
        // Unknown cloud value with a rawId: the rawId decides.
        assert_eq!(
            parse(
                json!({"kind": "microsoftTeamsUser", "rawId": "8:dod:o", "microsoftTeamsUser": {"userId": "o", "cloud": "usnat"}})
            ),
            CommunicationIdentifier::MicrosoftTeamsUser {
                user_id: "o".into(),
                is_anonymous: false,
                cloud: CommunicationCloud::Dod
            }
        );
        // Kind says phone but the sub-object is missing: fall back to the rawId.
        let p = parse(json!({"kind": "phoneNumber", "rawId": "4:+1555_dup"}));
        assert!(matches!(
            &p,
            CommunicationIdentifier::PhoneNumber { value, asserted_id: Some(a), .. } if value == "+1555" && a == "dup"
        ));
        // Extra fields are ignored.
        assert_eq!(
            parse(
                json!({"kind": "communicationUser", "rawId": "8:acs:a_b", "communicationUser": {"id": "8:acs:a_b", "extra": 1}, "more": true})
            ),
            CommunicationIdentifier::communication_user("8:acs:a_b")
        );
    }

    #[test]
    fn deserialize_rejects_empty_objects_with_a_reason() {
        for v in [
            json!({}),
            json!({"kind": "communicationUser"}),
            json!({"kind": "phoneNumber", "phoneNumber": {}}),
            json!({"rawId": ""}),
            json!({"rawId": null}),
        ] {
            let err = serde_json::from_value::<CommunicationIdentifier>(v.clone()).unwrap_err();
            assert!(
                err.to_string().contains("identifier has no rawId"),
                "{v}: {err}"
            );
        }
        let err = serde_json::from_value::<CommunicationIdentifier>(
            json!({"kind": "microsoftTeamsUser", "microsoftTeamsUser": {"userId": "o", "cloud": "mars"}}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown cloud \"mars\""), "{err}");
        // Not an object at all.
        assert!(serde_json::from_value::<CommunicationIdentifier>(json!("8:acs:x")).is_err());
        assert!(serde_json::from_value::<CommunicationIdentifier>(json!({"rawId": 5})).is_err());
    }

    #[test]
    fn asserted_phone_keeps_wire_raw_id_only_when_different() {
        let p = parse(json!({
            "kind": "phoneNumber",
            "rawId": "4:+1555_a1",
            "phoneNumber": {"value": "+1555", "assertedId": "a1"}
        }));
        assert!(matches!(
            &p,
            CommunicationIdentifier::PhoneNumber { raw_id: None, .. }
        ));
        assert_eq!(p.raw_id(), "4:+1555_a1");
        // A service rawId that does not match our derivation is kept verbatim.
        let q = parse(json!({
            "kind": "phoneNumber",
            "rawId": "4:1555",
            "phoneNumber": {"value": "+1555"}
        }));
        assert_eq!(q.raw_id(), "4:1555");
        assert_eq!(q.phone_number(), Some("+1555"));
    }

    #[test]
    fn serialize_writes_kind_raw_id_and_one_sub_object() {
        let v = serde_json::to_value(CommunicationIdentifier::teams_user("oid1")).unwrap();
        assert_eq!(
            v,
            json!({
                "kind": "microsoftTeamsUser",
                "rawId": "8:orgid:oid1",
                "microsoftTeamsUser": {"userId": "oid1", "isAnonymous": false, "cloud": "public"}
            })
        );
        let v = serde_json::to_value(CommunicationIdentifier::phone("+14255550123")).unwrap();
        assert_eq!(
            v,
            json!({"kind": "phoneNumber", "rawId": "4:+14255550123", "phoneNumber": {"value": "+14255550123"}})
        );
        let v = serde_json::to_value(CommunicationIdentifier::phone("anonymous")).unwrap();
        assert_eq!(
            v,
            json!({"kind": "phoneNumber", "rawId": "4:anonymous", "phoneNumber": {"value": "anonymous", "isAnonymous": true}})
        );
        let v =
            serde_json::to_value(CommunicationIdentifier::Unknown { raw_id: "x".into() }).unwrap();
        assert_eq!(v, json!({"kind": "unknown", "rawId": "x"}));
        let v = serde_json::to_value(CommunicationIdentifier::from_raw_id("28:gcch:app")).unwrap();
        assert_eq!(
            v,
            json!({"kind": "microsoftTeamsApp", "rawId": "28:gcch:app", "microsoftTeamsApp": {"appId": "app", "cloud": "gcch"}})
        );
        let v = serde_json::to_value(CommunicationIdentifier::from_raw_id("8:acs:r_t_u")).unwrap();
        assert_eq!(
            v,
            json!({"kind": "teamsExtensionUser", "rawId": "8:acs:r_t_u", "teamsExtensionUser": {"userId": "u", "tenantId": "t", "resourceId": "r", "cloud": "public"}})
        );
    }

    #[test]
    fn e164_normalisation() {
        assert_eq!(
            normalize_e164("+1 (425) 555-0123").as_deref(),
            Some("+14255550123")
        );
        assert_eq!(
            normalize_e164("14255550123").as_deref(),
            Some("+14255550123")
        );
        assert_eq!(normalize_e164("+"), None);
        assert_eq!(normalize_e164("anonymous"), None);
        assert_eq!(normalize_e164("+1234567890123456"), None);
        assert_eq!(normalize_e164("+1_x"), None);
    }

    #[test]
    fn cloud_parse_is_case_insensitive() {
        assert_eq!(
            CommunicationCloud::parse("GCCH"),
            Some(CommunicationCloud::Gcch)
        );
        assert_eq!(
            CommunicationCloud::parse("Public"),
            Some(CommunicationCloud::Public)
        );
        assert_eq!(CommunicationCloud::parse("usnat"), None);
        let c: CommunicationCloud = serde_json::from_str("\"dod\"").unwrap();
        assert_eq!(c, CommunicationCloud::Dod);
        assert_eq!(
            serde_json::to_string(&CommunicationCloud::Gcch).unwrap(),
            "\"gcch\""
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn cloud() -> impl Strategy<Value = CommunicationCloud> {
            prop_oneof![
                Just(CommunicationCloud::Public),
                Just(CommunicationCloud::Dod),
                Just(CommunicationCloud::Gcch)
            ]
        }

        // Ids without the separators the raw-id grammar uses.
        fn part() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9-]{1,24}"
        }

        fn identifier() -> impl Strategy<Value = CommunicationIdentifier> {
            prop_oneof![
                (part(), part()).prop_map(|(a, b)| CommunicationIdentifier::communication_user(
                    format!("8:acs:{a}_{b}")
                )),
                ("\\+[0-9]{1,15}", proptest::option::of(part())).prop_map(|(v, a)| {
                    CommunicationIdentifier::PhoneNumber {
                        value: v,
                        is_anonymous: false,
                        asserted_id: a,
                        raw_id: None,
                    }
                }),
                (part(), any::<bool>(), cloud()).prop_map(|(u, anon, c)| {
                    CommunicationIdentifier::MicrosoftTeamsUser {
                        user_id: u,
                        is_anonymous: anon,
                        // Anonymous users carry no cloud in their raw id; public is what comes back.
                        cloud: if anon { CommunicationCloud::Public } else { c },
                    }
                }),
                (part(), cloud()).prop_map(|(a, c)| CommunicationIdentifier::MicrosoftTeamsApp {
                    app_id: a,
                    cloud: c
                }),
                (part(), part(), part(), cloud()).prop_map(|(u, t, r, c)| {
                    CommunicationIdentifier::TeamsExtensionUser {
                        user_id: u,
                        tenant_id: t,
                        resource_id: r,
                        cloud: c,
                    }
                }),
            ]
        }

        proptest! {
            #[test]
            fn json_round_trip(id in identifier()) {
                let json = serde_json::to_string(&id).unwrap();
                let back: CommunicationIdentifier = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(&back, &id);
            }

            #[test]
            fn raw_id_round_trip(id in identifier()) {
                prop_assert_eq!(CommunicationIdentifier::from_raw_id(&id.raw_id()), id);
            }

            #[test]
            fn raw_id_only_equals_full_form(id in identifier()) {
                let only: CommunicationIdentifier =
                    serde_json::from_value(serde_json::json!({"rawId": id.raw_id()})).unwrap();
                prop_assert_eq!(only, id);
            }

            #[test]
            fn from_raw_id_never_panics_and_preserves_raw(raw in ".{0,64}") {
                let id = CommunicationIdentifier::from_raw_id(&raw);
                // Every kind reproduces its raw id exactly (phones keep the wire form when
                // it differs from the derived one), so raw ids are lossless keys.
                prop_assert_eq!(id.raw_id(), raw);
                prop_assert_eq!(CommunicationIdentifier::from_raw_id(&id.raw_id()), id);
            }
        }
    }
}
