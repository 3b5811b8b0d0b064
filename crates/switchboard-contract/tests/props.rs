//! Property tests: the validator and the path router never panic, whatever they are fed, and
//! path rendering round-trips arbitrary parameter values.

use proptest::prelude::*;
use serde_json::{Map, Value};
use switchboard_contract::{find_operation, operations, spec, validate, validate_response};

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9:+ _-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            // Real property names make the validator walk deep into the schemas.
            Just("targets".to_owned()),
            Just("kind".to_owned()),
            Just("rawId".to_owned()),
            Just("participantToAdd".to_owned()),
            Just("playSources".to_owned()),
            Just("transportType".to_owned()),
            Just("mediaStreamingOptions".to_owned()),
            Just("callLocator".to_owned()),
            "[a-z]{1,8}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((keys, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn definition_names() -> Vec<String> {
    spec().call_automation()["definitions"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn validator_never_panics(value in json(), index in any::<prop::sample::Index>()) {
        let names = definition_names();
        let name = index.get(&names);
        // Either outcome is fine; every error must carry a pointer that resolves in the value.
        if let Err(errors) = validate(name, &value) {
            for e in errors {
                prop_assert!(e.pointer.is_empty() || value.pointer(&e.pointer).is_some(),
                    "{} not in {}", e.pointer, value);
            }
        }
        let _ = validate_response(name, &value);
    }

    #[test]
    fn router_never_panics(method in "[A-Z]{3,6}", path in "[/a-zA-Z0-9:%{}._-]{0,80}") {
        let _ = find_operation(&method, &path);
    }

    #[test]
    fn render_match_round_trip(value in "\\PC{1,40}") {
        for op in operations() {
            let params: Vec<(&str, &str)> =
                op.path_params.iter().map(|p| (p.as_str(), value.as_str())).collect();
            let path = op.render_path(&params).unwrap();
            let (found, decoded) = find_operation(&op.method, &path).unwrap();
            prop_assert_eq!(&found.operation_id, &op.operation_id);
            for (_, v) in decoded {
                prop_assert_eq!(&v, &value);
            }
        }
    }
}
