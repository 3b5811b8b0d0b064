//! The Teams tenant's interop settings (the seed's policy table): which Teams users our ACS
//! resource may reach. ADR 0010.
//!
//! The shape is what a Teams admin exports (`Get-CsTeamsAcsFederationConfiguration`,
//! `Get-CsExternalAccessPolicy`, the users' `ExternalAccessPolicy`) and what
//! `switchboard doctor --tenant-settings` reads, so one file seeds the simulator and feeds the
//! doctor. The verdict follows "Enable interoperability in your Teams tenant": reachable only
//! when `EnableAcsUsers` is on, our resource is allowed, and the External Access Policy the
//! user is assigned (a custom one, else `Global`) has `EnableAcsFederationAccess`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The tenant's interop settings. No settings (the default) means every Teams user is
/// reachable, as before this model existed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPolicy {
    /// `Get-CsTeamsAcsFederationConfiguration`.
    #[serde(
        rename = "acsFederationConfiguration",
        alias = "acs_federation_configuration",
        alias = "AcsFederationConfiguration",
        default
    )]
    pub federation: AcsFederation,
    /// `Get-CsExternalAccessPolicy` (the `Global` one included).
    #[serde(
        rename = "externalAccessPolicies",
        alias = "external_access_policies",
        alias = "ExternalAccessPolicies",
        default
    )]
    pub policies: Vec<ExternalAccessPolicy>,
    /// User (OID or UPN, case-insensitive) → the custom policy assigned; absent, `null` or
    /// `Global` means the `Global` policy.
    #[serde(
        rename = "userPolicies",
        alias = "user_policies",
        alias = "UserPolicies",
        default
    )]
    pub user_policies: BTreeMap<String, Option<String>>,
}

/// `Get-CsTeamsAcsFederationConfiguration` (PowerShell property names).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AcsFederation {
    /// `EnableAcsUsers`.
    #[serde(default)]
    pub enable_acs_users: bool,
    /// `AllowedAcsResources`: immutable ACS resource ids.
    #[serde(default)]
    pub allowed_acs_resources: Vec<String>,
    /// `BlockedAcsResources` (older tenants).
    #[serde(default)]
    pub blocked_acs_resources: Vec<String>,
    /// `AllowAllAcsResources` (older tenants; deprecated).
    #[serde(default)]
    pub allow_all_acs_resources: bool,
}

/// One External Access Policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExternalAccessPolicy {
    /// `Global` or `Tag:<name>`.
    pub identity: String,
    /// `EnableAcsFederationAccess`.
    #[serde(default)]
    pub enable_acs_federation_access: bool,
}

fn bare(name: &str) -> &str {
    let n = name.trim();
    match n.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("tag:") => &n[4..],
        _ => n,
    }
}

fn same_resource(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .trim_matches(|c| matches!(c, '{' | '}' | '\'' | '"'))
            .to_ascii_lowercase()
    };
    norm(a) == norm(b)
}

impl TenantPolicy {
    /// May ACS resource `resource_id` reach the Teams user known by `keys` (OID, UPN)?
    pub fn allows(&self, resource_id: &str, keys: &[&str]) -> bool {
        let fed = &self.federation;
        let listed = |list: &[String]| list.iter().any(|r| same_resource(r, resource_id));
        let resource_ok = !listed(&fed.blocked_acs_resources)
            && (listed(&fed.allowed_acs_resources) || fed.allow_all_acs_resources);
        if !fed.enable_acs_users || !resource_ok {
            return false;
        }
        let assigned = keys
            .iter()
            .find_map(|k| {
                self.user_policies
                    .iter()
                    .find(|(u, _)| u.trim().eq_ignore_ascii_case(k.trim()))
                    .map(|(_, p)| p.clone())
            })
            .flatten()
            .filter(|p| !p.trim().is_empty())
            .unwrap_or_else(|| "Global".to_owned());
        self.policies
            .iter()
            .find(|p| bare(&p.identity).eq_ignore_ascii_case(bare(&assigned)))
            .is_some_and(|p| p.enable_acs_federation_access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "faced04c-2ced-433d-90db-063e424b87b1";

    fn tenant(enable: bool, global: bool, custom: bool) -> TenantPolicy {
        TenantPolicy {
            federation: AcsFederation {
                enable_acs_users: enable,
                allowed_acs_resources: vec![OURS.into()],
                ..Default::default()
            },
            policies: vec![
                ExternalAccessPolicy {
                    identity: "Global".into(),
                    enable_acs_federation_access: global,
                },
                ExternalAccessPolicy {
                    identity: "Tag:ContactCenter".into(),
                    enable_acs_federation_access: custom,
                },
            ],
            user_policies: BTreeMap::from([(
                "alice@contoso.com".into(),
                Some("ContactCenter".into()),
            )]),
        }
    }

    /// Rows of the docs' table: only the assigned policy matters, and only with the tenant
    /// configuration on.
    #[test]
    fn the_assigned_policy_decides_when_the_tenant_allows_us() {
        assert!(tenant(true, false, true).allows(OURS, &["oid-a", "alice@contoso.com"]));
        assert!(!tenant(true, true, false).allows(OURS, &["oid-a", "alice@contoso.com"]));
        assert!(tenant(true, true, false).allows(OURS, &["oid-b"]));
        assert!(!tenant(true, false, true).allows(OURS, &["oid-b"]));
        assert!(!tenant(false, true, true).allows(OURS, &["oid-b"]));
        assert!(!tenant(true, true, true).allows("another-resource", &["oid-b"]));
    }

    #[test]
    fn reads_the_doctor_file_shape() {
        let t: TenantPolicy = serde_json::from_str(
            r#"{"acs_federation_configuration": {"EnableAcsUsers": true, "AllowedAcsResources": ["x"]},
                "external_access_policies": [{"Identity": "Global", "EnableAcsFederationAccess": true}],
                "user_policies": {"u": null}}"#,
        )
        .unwrap();
        assert!(t.allows("x", &["u"]));
        let back = serde_json::to_value(&t).unwrap();
        assert_eq!(back["acsFederationConfiguration"]["EnableAcsUsers"], true);
    }
}
