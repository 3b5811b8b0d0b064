//! ADR 0010: the Teams tenant's interop settings (the seed's policy table). A Teams user the
//! tenant does not let our resource reach fails an invitation or a transfer with 403 / 10124;
//! everyone else behaves as before. A PSTN transfer target needs a caller id, and so does a
//! PSTN invitation (ADR 0012).

mod common;

use common::*;
use serde_json::json;
use switchboard_sim::TenantPolicy;

/// The tenant allows our resource; Adele's custom policy (assigned by UPN) refuses ACS.
fn tenant(resource_id: &str) -> TenantPolicy {
    serde_json::from_value(json!({
        "acsFederationConfiguration": {"EnableAcsUsers": true, "AllowedAcsResources": [resource_id]},
        "externalAccessPolicies": [
            {"Identity": "Global", "EnableAcsFederationAccess": true},
            {"Identity": "Tag:NoAcs", "EnableAcsFederationAccess": false}
        ],
        "userPolicies": {"adelev@contoso.com": "NoAcs"}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_teams_user_the_tenant_does_not_allow_fails_add_and_transfer() {
    let h = start().await;
    h.sim.set_tenant_policy(Some(tenant(h.sim.resource_id())));
    let (_, ccid) = h.connected_call().await;

    // Adele would accept, but the tenant's policy refuses: the request is accepted, the
    // invitation fails.
    assert_eq!(h.add(&ccid, AGENT_ACCEPT, "offer-1").await.status, 202);
    let failed = h.cb.expect(&ccid, "AddParticipantFailed").await;
    let info = &failed["data"]["resultInformation"];
    assert_eq!(info["code"], 403);
    assert_eq!(info["subCode"], 10124);
    assert!(info["message"]
        .as_str()
        .unwrap()
        .contains("Permission check for callee to interact with caller is not allowed"));
    assert_eq!(failed["data"]["operationContext"], "offer-1");
    assert_eq!(h.sim.agent(AGENT_ACCEPT).unwrap().in_calls, 0);

    // A transfer to her fails the same way and keeps the call.
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}:transferToParticipant"),
            json!({"targetParticipant": teams(AGENT_ACCEPT), "operationContext": "xfer"}),
        )
        .await;
    assert_eq!(r.status, 202);
    let failed = h.cb.expect(&ccid, "CallTransferFailed").await;
    assert_eq!(failed["data"]["resultInformation"]["code"], 403);
    assert_eq!(failed["data"]["resultInformation"]["subCode"], 10124);

    // A user under the Global policy (allowed) is unaffected.
    assert_eq!(h.add(&ccid, AGENT_VOICEMAIL, "offer-2").await.status, 202);
    h.cb.expect(&ccid, "AddParticipantSucceeded").await;

    // Without the policy table, Adele is reachable again.
    h.sim.set_tenant_policy(None);
    let (_, ccid2) = h.connected_call().await;
    assert_eq!(h.add(&ccid2, AGENT_ACCEPT, "offer-3").await.status, 202);
    h.cb.expect(&ccid2, "AddParticipantSucceeded").await;
}

#[tokio::test]
async fn a_tenant_that_does_not_list_our_resource_refuses_everyone() {
    let h = start().await;
    h.sim
        .set_tenant_policy(Some(tenant("another-acs-resource")));
    let (_, ccid) = h.connected_call().await;
    assert_eq!(h.add(&ccid, AGENT_VOICEMAIL, "offer-1").await.status, 202);
    let failed = h.cb.expect(&ccid, "AddParticipantFailed").await;
    assert_eq!(failed["data"]["resultInformation"]["subCode"], 10124);
}

#[tokio::test]
async fn transfers_to_a_teams_voice_app_and_to_a_phone_number_with_a_caller_id() {
    let h = start().await;
    let (call, ccid) = h.connected_call().await;
    // A phone target needs sourceCallerIdNumber.
    let phone = json!({"kind": "phoneNumber", "phoneNumber": {"value": "+14255550199"}, "rawId": "4:+14255550199"});
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}:transferToParticipant"),
            json!({"targetParticipant": phone}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("SourceCallerIdNumber"));
    // A Teams call queue / auto attendant (its resource account, `28:orgid:<appId>`), with
    // the caller named as transferee.
    let app = "8a3d1f0e-5b7c-4e2a-9c6d-1f0e2d3c4b5a";
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}:transferToParticipant"),
            json!({
                "targetParticipant": {"kind": "microsoftTeamsApp", "microsoftTeamsApp": {"appId": app}, "rawId": format!("28:orgid:{app}")},
                "transferee": {"kind": "phoneNumber", "phoneNumber": {"value": call.from.trim_start_matches("4:")}, "rawId": call.from},
                "operationContext": "to-cq"
            }),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let acc = h.cb.expect(&ccid, "CallTransferAccepted").await;
    assert_eq!(
        acc["data"]["transferTarget"]["rawId"],
        format!("28:orgid:{app}")
    );
    assert_eq!(acc["data"]["transferee"]["rawId"], call.from.as_str());
}

#[tokio::test]
async fn adding_a_phone_number_needs_a_caller_id() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    let phone = json!({"kind": "phoneNumber", "phoneNumber": {"value": "+14255550123"}, "rawId": "4:+14255550123"});
    let add = format!("/calling/callConnections/{ccid}/participants:add");
    // ADR 0012: no caller id, no PSTN invitation.
    let r = h
        .post(
            &add,
            json!({"participantToAdd": phone, "operationContext": "cb"}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("SourceCallerIdNumber"));
    // With one of our numbers as caller id the customer is rung and joins.
    let r = h
        .post(
            &add,
            json!({
                "participantToAdd": phone,
                "sourceCallerIdNumber": {"value": "+14255550100"},
                "operationContext": "cb"
            }),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let ok = h.cb.expect(&ccid, "AddParticipantSucceeded").await;
    assert_eq!(ok["data"]["participant"]["rawId"], "4:+14255550123");
}
