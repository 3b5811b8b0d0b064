//! Teams interop eligibility: can our ACS resource reach this Teams user at all?
//!
//! Two Teams admin settings decide it (Microsoft Learn, "Enable interoperability in your
//! Teams tenant", `articles/communication-services/concepts/includes/enable-interoperability-for-teams-tenant.md`):
//!
//! 1. the tenant configuration, `Set-CsTeamsAcsFederationConfiguration -EnableAcsUsers $True
//!    -AllowedAcsResources @(<immutable resource id>)`;
//! 2. the External Access Policy assigned to the user — the `Global` one, or a custom one
//!    granted to the user — with `EnableAcsFederationAccess $true`.
//!
//! The docs give the outcome as a 16-row table with the columns *Tenant configuration*,
//! *Global policy*, *Custom policy*, *Assigned policy* and *Interoperability*: enabled only
//! when the tenant configuration is on **and** the policy the user is actually assigned
//! allows ACS federation. The policy that is not assigned never matters.
//!
//! "Tenant configuration = True" means `EnableAcsUsers` is true **and** our resource is
//! allowed. Current tenants allow a resource by listing it in `AllowedAcsResources`. Older
//! tenants (module 2.x/3.0) could instead set `AllowAllAcsResources $True` with exclusions in
//! `BlockedAcsResources` (`Get-CsTeamsAcsFederationConfiguration` example 2 in
//! MicrosoftDocs/office-docs-powershell); the parameter is now documented as "DEPRECATED. Do
//! not use." but such tenants still exist, so it is honoured: a resource in
//! `BlockedAcsResources` is never allowed, one in `AllowedAcsResources` always is, and
//! `AllowAllAcsResources` allows everything else.
//!
//! We cannot run Teams PowerShell from here, so the settings come from a file
//! ([`TenantSettingsFile`]) with what an admin pastes from
//! `Get-CsTeamsAcsFederationConfiguration | ConvertTo-Json`,
//! `Get-CsExternalAccessPolicy | ConvertTo-Json` and the users' `ExternalAccessPolicy`
//! from `Get-CsOnlineUser`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

/// Identity of the tenant-wide default External Access Policy.
pub(crate) const GLOBAL_POLICY: &str = "Global";

/// `Get-CsTeamsAcsFederationConfiguration` (PowerShell property names; snake_case accepted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AcsFederationConfiguration {
    /// `EnableAcsUsers`: federation with ACS on at all.
    #[serde(alias = "enable_acs_users", default)]
    pub enable_acs_users: bool,
    /// `AllowedAcsResources`: immutable resource ids allowed.
    #[serde(
        alias = "allowed_acs_resources",
        default,
        deserialize_with = "string_list"
    )]
    pub allowed_acs_resources: Vec<String>,
    /// `BlockedAcsResources` (older tenants).
    #[serde(
        alias = "blocked_acs_resources",
        default,
        deserialize_with = "string_list"
    )]
    pub blocked_acs_resources: Vec<String>,
    /// `AllowAllAcsResources` (older tenants; deprecated).
    #[serde(alias = "allow_all_acs_resources", default)]
    pub allow_all_acs_resources: bool,
}

/// One External Access Policy (`Get-CsExternalAccessPolicy`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExternalAccessPolicy {
    /// `Global` or `Tag:<name>` as PowerShell prints it (a bare name is accepted).
    #[serde(alias = "identity")]
    pub identity: String,
    /// `EnableAcsFederationAccess`.
    #[serde(alias = "enable_acs_federation_access", default)]
    pub enable_acs_federation_access: bool,
}

impl ExternalAccessPolicy {
    /// The policy name without PowerShell's `Tag:` prefix.
    pub fn name(&self) -> &str {
        policy_name(&self.identity)
    }
}

fn policy_name(identity: &str) -> &str {
    let identity = identity.trim();
    match identity.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("tag:") => &identity[4..],
        _ => identity,
    }
}

/// The tenant side of the table: the federation configuration and every External Access
/// Policy (the `Global` one included).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    /// The tenant configuration: rows 1–2 of the verdict (ACS users on, our resource allowed).
    pub federation: AcsFederationConfiguration,
    /// Every policy the tenant has, so the one assigned to a user can be looked up by name.
    /// A missing assigned policy fails the check rather than counting as allowed.
    pub policies: Vec<ExternalAccessPolicy>,
}

impl TenantSettings {
    /// A policy by name (`Global`, `Tag:X` or `X`), case-insensitively.
    pub fn policy(&self, name: &str) -> Option<&ExternalAccessPolicy> {
        let wanted = policy_name(name);
        self.policies
            .iter()
            .find(|p| p.name().eq_ignore_ascii_case(wanted))
    }
}

/// Which External Access Policy the user is assigned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "assigned", content = "name", rename_all = "kebab-case")]
pub enum UserPolicy {
    /// No custom policy granted: the `Global` policy applies.
    Global,
    /// A custom policy granted to the user (name with or without `Tag:`).
    Custom(String),
}

impl UserPolicy {
    /// From `Get-CsOnlineUser`'s `ExternalAccessPolicy` property: empty or `Global` is the
    /// global policy.
    pub(crate) fn from_assignment(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            None | Some("") => Self::Global,
            Some(v) if policy_name(v).eq_ignore_ascii_case(GLOBAL_POLICY) => Self::Global,
            Some(v) => Self::Custom(policy_name(v).to_owned()),
        }
    }
}

/// One of the checks the verdict is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// `EnableAcsUsers`.
    TenantEnableAcsUsers,
    /// Our resource in `AllowedAcsResources` (or allowed by the legacy settings).
    ResourceAllowed,
    /// `EnableAcsFederationAccess` of the policy assigned to the user.
    AssignedPolicy,
}

/// The outcome of one check, with how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Which setting this finding is about.
    pub check: Check,
    /// The setting allows our resource to reach the user. [`Eligibility::reachable`] is the
    /// conjunction of these.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// PowerShell that fixes it (when not ok).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {}",
            if self.ok { "ok" } else { "FAIL" },
            self.detail
        )?;
        if let Some(fix) = &self.fix {
            write!(f, "\n       fix: {fix}")?;
        }
        Ok(())
    }
}

/// Can our ACS resource call this user, and why (not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Eligibility {
    /// All checks passed.
    pub reachable: bool,
    /// Every check, passed or failed, in the order the docs list them.
    pub reasons: Vec<Finding>,
}

/// Normalises an immutable resource id for comparison: trimmed, braces and quotes removed,
/// lower case (PowerShell prints GUIDs in any case, sometimes as `{'…'}`).
fn normalize_resource(id: &str) -> String {
    id.trim()
        .trim_matches(|c| matches!(c, '{' | '}' | '\'' | '"'))
        .trim()
        .to_ascii_lowercase()
}

/// The verdict of the docs' table for one user. See the [module docs](self).
pub fn eligibility(
    tenant: &TenantSettings,
    user_policy: &UserPolicy,
    resource_id: &str,
) -> Eligibility {
    let fed = &tenant.federation;
    let ours = normalize_resource(resource_id);
    let contains = |list: &[String]| list.iter().any(|r| normalize_resource(r) == ours);
    let mut reasons = Vec::with_capacity(3);

    reasons.push(if fed.enable_acs_users {
        Finding {
            check: Check::TenantEnableAcsUsers,
            ok: true,
            detail: "tenant federation with ACS is enabled (EnableAcsUsers = True)".into(),
            fix: None,
        }
    } else {
        Finding {
            check: Check::TenantEnableAcsUsers,
            ok: false,
            detail: "tenant federation with ACS is disabled (EnableAcsUsers = False)".into(),
            fix: Some(format!(
                "Set-CsTeamsAcsFederationConfiguration -EnableAcsUsers $True -AllowedAcsResources @('{ours}')"
            )),
        }
    });

    let allow_fix = format!(
        "Set-CsTeamsAcsFederationConfiguration -EnableAcsUsers $True -AllowedAcsResources @({})",
        fed.allowed_acs_resources
            .iter()
            .map(|r| normalize_resource(r))
            .filter(|r| *r != ours)
            .chain(std::iter::once(ours.clone()))
            .map(|r| format!("'{r}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    reasons.push(if ours.is_empty() {
        Finding {
            check: Check::ResourceAllowed,
            ok: false,
            detail: "our ACS immutable resource id is not known (set acs.resource_id or --resource-id)".into(),
            fix: None,
        }
    } else if contains(&fed.blocked_acs_resources) {
        Finding {
            check: Check::ResourceAllowed,
            ok: false,
            detail: format!("our ACS resource {ours} is in BlockedAcsResources"),
            fix: Some(format!("remove it from BlockedAcsResources, then {allow_fix}")),
        }
    } else if contains(&fed.allowed_acs_resources) {
        Finding {
            check: Check::ResourceAllowed,
            ok: true,
            detail: format!("our ACS resource {ours} is in AllowedAcsResources"),
            fix: None,
        }
    } else if fed.allow_all_acs_resources {
        Finding {
            check: Check::ResourceAllowed,
            ok: true,
            detail: format!(
                "our ACS resource {ours} is allowed by AllowAllAcsResources = True (deprecated; list it in AllowedAcsResources)"
            ),
            fix: None,
        }
    } else {
        Finding {
            check: Check::ResourceAllowed,
            ok: false,
            detail: format!("our ACS resource {ours} is not in AllowedAcsResources"),
            fix: Some(allow_fix),
        }
    });

    let (policy_label, set_identity) = match user_policy {
        UserPolicy::Global => (GLOBAL_POLICY.to_owned(), GLOBAL_POLICY.to_owned()),
        UserPolicy::Custom(name) => (format!("custom policy {name:?}"), format!("'Tag:{name}'")),
    };
    let lookup = match user_policy {
        UserPolicy::Global => GLOBAL_POLICY,
        UserPolicy::Custom(name) => name.as_str(),
    };
    let set_fix = format!(
        "Set-CsExternalAccessPolicy -Identity {set_identity} -EnableAcsFederationAccess $true"
    );
    reasons.push(match tenant.policy(lookup) {
        Some(p) if p.enable_acs_federation_access => Finding {
            check: Check::AssignedPolicy,
            ok: true,
            detail: format!("the user's External Access Policy ({policy_label}) has EnableAcsFederationAccess = True"),
            fix: None,
        },
        Some(_) => Finding {
            check: Check::AssignedPolicy,
            ok: false,
            detail: format!("the user's External Access Policy ({policy_label}) has EnableAcsFederationAccess = False"),
            fix: Some(set_fix),
        },
        None => Finding {
            check: Check::AssignedPolicy,
            ok: false,
            detail: format!(
                "the user's External Access Policy ({policy_label}) is not in the tenant settings; add the output of Get-CsExternalAccessPolicy"
            ),
            fix: None,
        },
    });

    Eligibility {
        reachable: reasons.iter().all(|r| r.ok),
        reasons,
    }
}

/// The file `switchboard doctor --tenant-settings` reads (JSON or TOML).
///
/// ```json
/// {
///   "acs_federation_configuration": { "EnableAcsUsers": true, "AllowedAcsResources": ["…"] },
///   "external_access_policies": [
///     { "Identity": "Global", "EnableAcsFederationAccess": false },
///     { "Identity": "Tag:ContactCenter", "EnableAcsFederationAccess": true }
///   ],
///   "user_policies": { "alice@contoso.com": "ContactCenter" }
/// }
/// ```
///
/// `user_policies` maps a user (OID or UPN, case-insensitive) to the `ExternalAccessPolicy`
/// `Get-CsOnlineUser` shows; a user not listed has the `Global` policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettingsFile {
    /// `Get-CsTeamsAcsFederationConfiguration | ConvertTo-Json`. Required: without it no
    /// verdict is possible.
    #[serde(
        alias = "AcsFederationConfiguration",
        alias = "acsFederationConfiguration"
    )]
    pub acs_federation_configuration: AcsFederationConfiguration,
    /// `Get-CsExternalAccessPolicy | ConvertTo-Json`: one object or an array, as PowerShell
    /// prints one or several.
    #[serde(
        default,
        alias = "ExternalAccessPolicies",
        alias = "externalAccessPolicies",
        deserialize_with = "one_or_many"
    )]
    pub external_access_policies: Vec<ExternalAccessPolicy>,
    /// User (OID or UPN) → the `ExternalAccessPolicy` `Get-CsOnlineUser` shows; `null` or
    /// empty means `Global`. Use [`user_policy`](Self::user_policy) to look one up.
    #[serde(default, alias = "UserPolicies", alias = "userPolicies")]
    pub user_policies: BTreeMap<String, Option<String>>,
}

/// Why a tenant settings file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TenantSettingsError {
    /// The file could not be read (missing, permissions, or not UTF-8: Windows PowerShell's
    /// `Out-File` writes UTF-16, which has to be re-saved as UTF-8).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid JSON/TOML or has an unknown or mistyped key.
    #[error("{path}: {message}")]
    Parse {
        /// The path as given.
        path: String,
        /// The parser's message, starting with the key path where parsing failed.
        message: String,
    },
}

impl TenantSettingsFile {
    /// Reads a JSON (`.json`) or TOML file.
    pub fn from_path(path: &Path) -> Result<Self, TenantSettingsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TenantSettingsError::Io {
            path: shown.clone(),
            source,
        })?;
        // PowerShell's `Out-File` writes UTF-8 with a BOM (Windows PowerShell: UTF-16LE,
        // which read_to_string already rejected with a clear error).
        let text = text.trim_start_matches('\u{feff}');
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let parsed = if is_json {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut de)
                .map_err(|e| format!("at `{}`: {}", e.path(), e.inner()))
        } else {
            toml::Deserializer::parse(text)
                .map_err(|e| e.message().to_owned())
                .and_then(|de| {
                    serde_path_to_error::deserialize(de)
                        .map_err(|e| format!("at `{}`: {}", e.path(), e.inner().message()))
                })
        };
        parsed.map_err(|message| TenantSettingsError::Parse {
            path: shown,
            message,
        })
    }

    /// The tenant side.
    pub fn tenant(&self) -> TenantSettings {
        TenantSettings {
            federation: self.acs_federation_configuration.clone(),
            policies: self.external_access_policies.clone(),
        }
    }

    /// The policy assigned to a user, looked up by any of the given keys (OID, UPN).
    pub fn user_policy<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> UserPolicy {
        for key in keys {
            if let Some((_, v)) = self
                .user_policies
                .iter()
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(key.trim()))
            {
                return UserPolicy::from_assignment(v.as_deref());
            }
        }
        UserPolicy::Global
    }
}

/// A list of strings that PowerShell may print as `null`, one string or a list.
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// `ConvertTo-Json` of a single policy is an object, of several an array.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ExternalAccessPolicy>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(ExternalAccessPolicy),
        Many(Vec<ExternalAccessPolicy>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(v) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "faced04c-2ced-433d-90db-063e424b87b1";
    const CUSTOM: &str = "ContactCenter";

    /// The table from "Enable interoperability in your Teams tenant", verbatim, in the docs'
    /// row order. Columns: Tenant configuration | Global policy | Custom policy |
    /// Assigned policy | Interoperability.
    const DOCS_TABLE: [(bool, bool, bool, &str, bool); 16] = [
        (true, true, true, "Global", true),
        (true, true, true, "Custom", true),
        (true, true, false, "Global", true),
        (true, true, false, "Custom", false),
        (true, false, true, "Global", false),
        (true, false, true, "Custom", true),
        (true, false, false, "Global", false),
        (true, false, false, "Custom", false),
        (false, true, true, "Global", false),
        (false, true, true, "Custom", false),
        (false, true, false, "Global", false),
        (false, true, false, "Custom", false),
        (false, false, true, "Global", false),
        (false, false, true, "Custom", false),
        (false, false, false, "Global", false),
        (false, false, false, "Custom", false),
    ];

    fn tenant(config: bool, global: bool, custom: bool) -> TenantSettings {
        TenantSettings {
            // "Tenant configuration = True" is the documented command:
            // -EnableAcsUsers $True -AllowedAcsResources @(<ours>).
            federation: AcsFederationConfiguration {
                enable_acs_users: config,
                allowed_acs_resources: if config { vec![OURS.into()] } else { vec![] },
                ..Default::default()
            },
            policies: vec![
                ExternalAccessPolicy {
                    identity: "Global".into(),
                    enable_acs_federation_access: global,
                },
                ExternalAccessPolicy {
                    identity: format!("Tag:{CUSTOM}"),
                    enable_acs_federation_access: custom,
                },
            ],
        }
    }

    #[test]
    fn all_sixteen_rows_of_the_docs_table() {
        for (i, (config, global, custom, assigned, expected)) in DOCS_TABLE.iter().enumerate() {
            let policy = match *assigned {
                "Global" => UserPolicy::Global,
                _ => UserPolicy::Custom(CUSTOM.into()),
            };
            let e = eligibility(&tenant(*config, *global, *custom), &policy, OURS);
            assert_eq!(e.reachable, *expected, "row {}: {:?}", i + 1, e.reasons);
            // The verdict is explained: every failed check is listed, and only those.
            let failed: Vec<Check> = e
                .reasons
                .iter()
                .filter(|r| !r.ok)
                .map(|r| r.check)
                .collect();
            let mut want = Vec::new();
            if !config {
                want.extend([Check::TenantEnableAcsUsers, Check::ResourceAllowed]);
            }
            let assigned_allows = if *assigned == "Global" {
                *global
            } else {
                *custom
            };
            if !assigned_allows {
                want.push(Check::AssignedPolicy);
            }
            assert_eq!(failed, want, "row {}", i + 1);
        }
    }

    #[test]
    fn enabled_tenant_without_our_resource_is_not_reachable() {
        let mut t = tenant(true, true, true);
        t.federation.allowed_acs_resources = vec!["bf19b7db-6960-41e5-a139-2aa373474354".into()];
        let e = eligibility(&t, &UserPolicy::Global, OURS);
        assert!(!e.reachable);
        let f = &e.reasons[1];
        assert_eq!(f.check, Check::ResourceAllowed);
        // The fix keeps the resources already allowed.
        let fix = f.fix.as_deref().unwrap();
        assert!(
            fix.contains("'bf19b7db-6960-41e5-a139-2aa373474354', 'faced04c"),
            "{fix}"
        );
    }

    #[test]
    fn legacy_allow_all_with_block_list() {
        let mut t = tenant(true, true, true);
        t.federation.allowed_acs_resources.clear();
        t.federation.allow_all_acs_resources = true;
        assert!(eligibility(&t, &UserPolicy::Global, OURS).reachable);

        t.federation.blocked_acs_resources = vec![OURS.to_uppercase()];
        let e = eligibility(&t, &UserPolicy::Global, OURS);
        assert!(!e.reachable);
        assert!(e.reasons[1].detail.contains("BlockedAcsResources"));

        // Blocked wins even over an explicit allow.
        t.federation.allowed_acs_resources = vec![OURS.into()];
        assert!(!eligibility(&t, &UserPolicy::Global, OURS).reachable);
    }

    #[test]
    fn resource_ids_compare_loosely() {
        let mut t = tenant(true, true, true);
        t.federation.allowed_acs_resources = vec![format!("{{'{}'}}", OURS.to_uppercase())];
        assert!(eligibility(&t, &UserPolicy::Global, &format!(" {OURS} ")).reachable);
        assert!(!eligibility(&t, &UserPolicy::Global, "").reachable);
    }

    #[test]
    fn missing_policy_is_not_reachable_and_says_why() {
        let mut t = tenant(true, true, true);
        t.policies.retain(|p| p.name() == "Global");
        let e = eligibility(&t, &UserPolicy::Custom("Agents".into()), OURS);
        assert!(!e.reachable);
        assert!(e.reasons[2].detail.contains("not in the tenant settings"));
    }

    #[test]
    fn user_policy_from_powershell_assignment() {
        assert_eq!(UserPolicy::from_assignment(None), UserPolicy::Global);
        assert_eq!(UserPolicy::from_assignment(Some(" ")), UserPolicy::Global);
        assert_eq!(
            UserPolicy::from_assignment(Some("Global")),
            UserPolicy::Global
        );
        assert_eq!(
            UserPolicy::from_assignment(Some("Tag:Agents")),
            UserPolicy::Custom("Agents".into())
        );
    }

    #[test]
    fn settings_file_accepts_powershell_json_and_toml() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("tenant.json");
        // As pasted from ConvertTo-Json (with the BOM Out-File writes, a single policy as an
        // object, and a null list).
        std::fs::write(
            &json,
            format!(
                "\u{feff}{{\"AcsFederationConfiguration\": {{\"Identity\": \"Global\", \"AllowedAcsResources\": \"{OURS}\", \"BlockedAcsResources\": null, \"EnableAcsUsers\": true, \"AllowAllAcsResources\": false, \"LabelForAllowedAcsUsers\": \"Unverified\"}},
                 \"ExternalAccessPolicies\": {{\"Identity\": \"Tag:Agents\", \"EnableAcsFederationAccess\": true, \"EnableFederationAccess\": true}},
                 \"UserPolicies\": {{\"Alice@Contoso.com\": \"Agents\", \"bob@contoso.com\": null}}}}"
            ),
        )
        .unwrap();
        let f = TenantSettingsFile::from_path(&json).unwrap();
        assert_eq!(
            f.acs_federation_configuration.allowed_acs_resources,
            vec![OURS]
        );
        let t = f.tenant();
        let alice = f.user_policy(["00000000-0000-0000-0000-000000000000", "alice@contoso.com"]);
        assert_eq!(alice, UserPolicy::Custom("Agents".into()));
        assert!(eligibility(&t, &alice, OURS).reachable);
        // Bob has no custom policy → Global, which is not in the file.
        let bob = f.user_policy(["bob@contoso.com"]);
        assert_eq!(bob, UserPolicy::Global);
        assert!(!eligibility(&t, &bob, OURS).reachable);

        let toml = dir.path().join("tenant.toml");
        std::fs::write(
            &toml,
            format!(
                "[acs_federation_configuration]\nenable_acs_users = true\nallowed_acs_resources = [\"{OURS}\"]\n\n[[external_access_policies]]\nidentity = \"Global\"\nenable_acs_federation_access = true\n"
            ),
        )
        .unwrap();
        let f = TenantSettingsFile::from_path(&toml).unwrap();
        assert!(eligibility(&f.tenant(), &f.user_policy(["x"]), OURS).reachable);

        std::fs::write(
            &toml,
            "[acs_federation_configuration]\nenable_acs_users = \"yes\"\n",
        )
        .unwrap();
        let e = TenantSettingsFile::from_path(&toml)
            .unwrap_err()
            .to_string();
        assert!(e.contains("acs_federation_configuration"), "{e}");
    }
}
