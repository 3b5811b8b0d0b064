//! Every spec example validates against its operation's schemas, and mutations of each request
//! example (extra property, wrong type, missing required) fail.

use serde_json::{Map, Value};
use switchboard_contract::{operation, operations, spec, validate, validate_response};

/// Examples whose operation is not in the embedded document (see `spec/README.md`).
const FOREIGN_EXAMPLES: &[&str] = &["CallMedia_SummarizeCall"];

/// (operation, example name, example JSON) for every embedded example with an operation.
fn examples_with_operations() -> Vec<(
    &'static switchboard_contract::Operation,
    &'static str,
    &'static Value,
)> {
    spec()
        .examples()
        .filter(|(name, _)| !FOREIGN_EXAMPLES.contains(name))
        .map(|(name, example)| {
            let op = operations()
                .iter()
                .find(|o| o.examples.iter().any(|e| e == name))
                .unwrap_or_else(|| panic!("example {name} belongs to no operation"));
            (op, name, example)
        })
        .collect()
}

#[test]
fn foreign_examples_really_have_no_operation() {
    for name in FOREIGN_EXAMPLES {
        assert!(spec().example(name).is_some());
        assert!(
            !operations()
                .iter()
                .any(|o| o.examples.iter().any(|e| e == name)),
            "{name} now has an operation; validate it like the others"
        );
    }
    assert!(operation("CallMedia_SummarizeCall").is_none());
}

#[test]
fn every_request_example_validates() {
    let mut checked = 0;
    for (op, name, example) in examples_with_operations() {
        let params = &example["parameters"];
        assert_eq!(params["api-version"], "2026-03-12", "{name}");
        let Some(body_param) = &op.body else {
            continue;
        };
        let body = params
            .get(&body_param.name)
            .unwrap_or_else(|| panic!("{name}: no parameter {}", body_param.name));
        if let Err(errors) = validate(&body_param.definition, body) {
            panic!("{name} ({}): {errors:#?}", body_param.definition);
        }
        op.validate_body(body).unwrap();
        checked += 1;
    }
    // AddParticipant, CancelAddParticipant, MoveParticipants, RemoveParticipant, Transfer, Play,
    // StartRecording, CreateCall, AnswerCall, RedirectCall, RejectCall.
    assert_eq!(checked, 11);
}

#[test]
fn every_response_example_validates() {
    let mut checked = 0;
    for (op, name, example) in examples_with_operations() {
        for (status, response) in example["responses"].as_object().unwrap() {
            let status: u16 = status.parse().unwrap();
            assert!(
                op.is_success(status),
                "{name}: undocumented status {status}"
            );
            match (op.response_definition(status), response.get("body")) {
                (Some(def), Some(body)) => {
                    if let Err(errors) = validate_response(def, body) {
                        panic!("{name} {status} ({def}): {errors:#?}");
                    }
                    checked += 1;
                }
                (None, None) => {}
                (def, body) => panic!("{name} {status}: definition {def:?} vs body {body:?}"),
            }
        }
    }
    // StartRecording documents two bodies (200 and 202).
    assert_eq!(checked, 12);
}

/// Required property names of a definition (following no inheritance: request models here are
/// flat).
fn required_of(definition: &str) -> Vec<String> {
    spec().call_automation()["definitions"][definition]["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn mutated_request_examples_fail() {
    for (op, name, example) in examples_with_operations() {
        let Some(body_param) = &op.body else {
            continue;
        };
        let def = body_param.definition.as_str();
        let body = example["parameters"][&body_param.name].as_object().unwrap();

        // Extra property: every request model is additionalProperties: false.
        let mut extra = body.clone();
        extra.insert("notInTheSpec".into(), Value::Bool(true));
        let errors = validate(def, &Value::Object(extra)).unwrap_err();
        assert!(
            errors.iter().any(|e| e.pointer == "/notInTheSpec"),
            "{name}: {errors:?}"
        );

        // Wrong type: replace each present property, one at a time, with a value of another type.
        for (key, value) in body {
            if value.is_null() {
                continue;
            }
            let wrong = if value.is_number() || value.is_boolean() {
                Value::String("x".into())
            } else {
                Value::from(42)
            };
            let mut mutated: Map<String, Value> = body.clone();
            mutated.insert(key.clone(), wrong);
            let errors = validate(def, &Value::Object(mutated)).unwrap_err();
            assert!(
                errors.iter().any(|e| e.pointer == format!("/{key}")),
                "{name}.{key}: {errors:?}"
            );
        }

        // Missing required: remove each required property in turn.
        for required in required_of(def) {
            let mut mutated = body.clone();
            if mutated.remove(&required).is_none() {
                panic!("{name}: example lacks required {required}");
            }
            let errors = validate(def, &Value::Object(mutated)).unwrap_err();
            assert!(
                errors
                    .iter()
                    .any(|e| e.message == format!("missing required property {required:?}")),
                "{name} without {required}: {errors:?}"
            );
        }
    }
}

#[test]
fn every_operation_has_a_resolvable_body_and_response_definitions() {
    for op in operations() {
        if let Some(body) = &op.body {
            assert!(
                switchboard_contract::schema::has_definition(&body.definition),
                "{}",
                op.operation_id
            );
        }
        for r in &op.responses {
            if let Some(def) = &r.definition {
                assert!(switchboard_contract::schema::has_definition(def), "{def}");
            }
        }
        assert_eq!(
            op.error_definition.as_deref(),
            Some("CommunicationErrorResponse"),
            "{}",
            op.operation_id
        );
    }
}
