//! The event model against the Call Automation OpenAPI (2026-03-12) the contract crate
//! embeds: every event definition has a typed variant, and every property the definition
//! lists is modelled (it survives decode → serialise instead of being ignored).

use std::path::PathBuf;

use serde_json::{json, Map, Value};
use switchboard_events::{AcsEvent, EVENT_TYPE_PREFIX, KNOWN_EVENT_TYPES};

fn spec() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../switchboard-contract/spec/callautomation/2026-03-12/communicationservicescallautomation.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Event definitions: IncomingCall, and every definition that carries the callback trio
/// `callConnectionId` + `serverCallId` + `correlationId` (requests and responses do not).
fn event_definitions(spec: &Value) -> Vec<(String, Map<String, Value>)> {
    let defs = spec["definitions"].as_object().unwrap();
    let mut out: Vec<(String, Map<String, Value>)> = defs
        .iter()
        .filter_map(|(name, def)| {
            let props = def.get("properties")?.as_object()?;
            let is_callback = ["callConnectionId", "serverCallId", "correlationId"]
                .iter()
                .all(|k| props.contains_key(*k));
            let is_event = (is_callback || name == "IncomingCall")
                && !name.ends_with("Request")
                && !name.ends_with("Response")
                && name != "CallConnectionProperties";
            is_event.then(|| (name.clone(), props.clone()))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A plausible value for one property of a definition.
fn sample(spec: &Value, prop: &Value) -> Value {
    if let Some(r) = prop.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap();
        return match name {
            "CommunicationIdentifierModel" => {
                json!({"rawId": "8:orgid:00000000-0000-0000-0000-000000000001"})
            }
            _ => {
                let def = &spec["definitions"][name];
                if let Some(values) = def.get("enum").and_then(Value::as_array) {
                    values[0].clone()
                } else if let Some(props) = def.get("properties").and_then(Value::as_object) {
                    Value::Object(
                        props
                            .iter()
                            .map(|(k, p)| (k.clone(), sample(spec, p)))
                            .collect(),
                    )
                } else {
                    json!({})
                }
            }
        };
    }
    match prop.get("type").and_then(Value::as_str) {
        Some("string") => json!("2026-03-20T10:15:30Z"),
        Some("integer") => json!(3),
        Some("number") => json!(0.5),
        Some("boolean") => json!(true),
        Some("array") => {
            let item = prop
                .get("items")
                .map(|i| sample(spec, i))
                .unwrap_or(Value::Null);
            json!([item])
        }
        Some("object") => match prop.get("additionalProperties") {
            Some(ap) => json!({"k": sample(spec, ap)}),
            None => json!({}),
        },
        _ => Value::Null,
    }
}

#[test]
fn every_spec_event_has_a_variant_and_nothing_extra() {
    let spec = spec();
    let names: Vec<String> = event_definitions(&spec)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names.len(), 39, "{names:?}");
    let mut known: Vec<&str> = KNOWN_EVENT_TYPES.to_vec();
    known.sort_unstable();
    assert_eq!(known, names);
}

#[test]
fn every_spec_property_is_modelled() {
    let spec = spec();
    let mut missing = Vec::new();
    for (name, props) in event_definitions(&spec) {
        let data: Map<String, Value> = props
            .iter()
            .map(|(k, p)| (k.clone(), sample(&spec, p)))
            .collect();
        let event = AcsEvent::from_data(
            &format!("{EVENT_TYPE_PREFIX}{name}"),
            Value::Object(data.clone()),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}\n{}", Value::Object(data.clone())));
        assert_eq!(event.short_type(), name);
        let back = serde_json::to_value(&event).unwrap();
        for key in props.keys() {
            if back.get(key).is_none() {
                missing.push(format!("{name}.{key}"));
            }
        }
    }
    assert!(missing.is_empty(), "not modelled: {missing:?}");
}
