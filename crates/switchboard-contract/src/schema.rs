//! A small, strict validator for the JSON-schema subset the Call Automation document uses.
//!
//! Supported: `type`, `properties`, `required`, `additionalProperties` (boolean or schema),
//! `enum` (with `x-ms-enum.modelAsString`), `items`, `$ref` (local and the cross-file common
//! document), `allOf` (merged the way AutoRest merges a derived model with its base),
//! `discriminator` / `x-ms-discriminator-value`, `format` (`int32`, `int64`, `date-time`,
//! `date-time-rfc1123`, `uri`, `uuid`), `minimum` / `maximum` / `exclusiveMinimum` /
//! `exclusiveMaximum`, `minLength` / `maxLength`, `minItems` / `maxItems`, and `readOnly`.
//! A test walks the whole document and fails if it ever starts using a keyword outside this list.
//!
//! Two rules that differ from a literal JSON-schema reading, both matching how the service and
//! the official SDK serializers behave:
//! * An optional property whose value is JSON `null` counts as absent. The spec's own
//!   `CallRecording_StartRecording` example sends `"recordingContentType": null`, and the
//!   service's deserializer treats such nulls as "not set". A `null` for a required property
//!   is still an error.
//! * In [`Direction::Request`], `readOnly` properties are ignored (a server drops them). In
//!   [`Direction::Response`] they are validated, and string enums marked
//!   `x-ms-enum.modelAsString: true` accept values outside the list: those enums are
//!   extensible, so a newer service may return a value this document does not know.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use crate::spec::{spec, Doc, COMMON_REF};

/// How deep `$ref`/`allOf` chains may nest before we call the schema cyclic.
const MAX_DEPTH: usize = 64;

/// Which way a payload travels; it decides how `readOnly` and extensible enums are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// A request body sent to the service (strict enums; `readOnly` properties ignored).
    Request,
    /// A response body from the service (extensible enums accept unknown values).
    Response,
}

/// One validation failure: where (RFC 6901 JSON pointer into the value) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    /// JSON pointer to the offending value; `""` is the root.
    pub pointer: String,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Validates a request body against a definition of the Call Automation document
/// (e.g. `"CreateCallRequest"`). Returns every failure found, not just the first.
pub fn validate(definition: &str, value: &Value) -> Result<(), Vec<ValidationError>> {
    validate_as(definition, value, Direction::Request)
}

/// Validates a response body (see [`Direction::Response`]).
pub fn validate_response(definition: &str, value: &Value) -> Result<(), Vec<ValidationError>> {
    validate_as(definition, value, Direction::Response)
}

/// Validates `value` against `definition` in the given direction.
pub fn validate_as(
    definition: &str,
    value: &Value,
    direction: Direction,
) -> Result<(), Vec<ValidationError>> {
    let mut v = Validator {
        direction,
        errors: Vec::new(),
    };
    let reference = format!("#/definitions/{definition}");
    match resolve(Doc::CallAutomation, &reference) {
        Some((doc, schema, name)) => {
            let mut ptr = String::new();
            v.check(doc, schema, Some(name), value, &mut ptr, 0, true);
        }
        None => v.errors.push(ValidationError {
            pointer: String::new(),
            message: format!("unknown definition {definition:?}"),
        }),
    }
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(v.errors)
    }
}

/// Whether the Call Automation document defines `name`.
pub fn has_definition(name: &str) -> bool {
    spec().call_automation()["definitions"].get(name).is_some()
}

/// Keywords the validator understands (or deliberately ignores, like `description`).
pub const SUPPORTED_KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "x-ms-enum",
    "items",
    "allOf",
    "discriminator",
    "x-ms-discriminator-value",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "readOnly",
    // Documentation and code-generation hints with no validation meaning.
    "description",
    "title",
    "x-ms-client-name",
    "x-nullable",
    "example",
];

/// Resolves a `$ref` relative to `doc`: returns the target document, the schema and the
/// definition name (the last pointer segment).
fn resolve(doc: Doc, reference: &str) -> Option<(Doc, &'static Value, &'static str)> {
    let (file, pointer) = reference.split_once('#')?;
    let target = match file {
        "" => doc,
        COMMON_REF => Doc::Common,
        _ => return None,
    };
    let root = spec().doc(target);
    let schema = root.pointer(pointer)?;
    // The definition name, borrowed from the document (which lives for the whole process).
    let name = pointer
        .strip_prefix("/definitions/")
        .and_then(|n| root.get("definitions")?.as_object()?.get_key_value(n))
        .map_or("", |(k, _)| k.as_str());
    Some((target, schema, name))
}

struct Validator {
    direction: Direction,
    errors: Vec<ValidationError>,
}

/// The object-level view of a schema once its `allOf` chain is merged.
#[derive(Default)]
struct ObjectShape {
    properties: Vec<(Doc, &'static str, &'static Value)>,
    required: BTreeSet<&'static str>,
    additional: Option<(Doc, &'static Value)>,
}

impl Validator {
    fn error(&mut self, ptr: &str, message: impl Into<String>) {
        self.errors.push(ValidationError {
            pointer: ptr.to_owned(),
            message: message.into(),
        });
    }

    /// Validates `value` against `schema` (which lives in `doc`, under definition `name` when
    /// it is one). `dispatch` is false while validating a derived model's base, so the base's
    /// discriminator does not send us back down to the derived model.
    #[allow(clippy::too_many_arguments)]
    fn check(
        &mut self,
        doc: Doc,
        schema: &'static Value,
        name: Option<&'static str>,
        value: &Value,
        ptr: &mut String,
        depth: usize,
        dispatch: bool,
    ) {
        if depth > MAX_DEPTH {
            self.error(ptr, "schema nests too deeply (cyclic $ref?)");
            return;
        }
        let Some(schema_obj) = schema.as_object() else {
            // `true`/`{}`-like schemas accept anything.
            return;
        };
        if let Some(reference) = schema_obj.get("$ref").and_then(Value::as_str) {
            match resolve(doc, reference) {
                Some((d, s, n)) => self.check(d, s, Some(n), value, ptr, depth + 1, true),
                None => self.error(ptr, format!("unresolvable $ref {reference:?}")),
            }
            return;
        }
        if dispatch {
            if let Some((d, sub, sub_name)) = self.derived_for(doc, schema_obj, name, value) {
                self.check(d, sub, Some(sub_name), value, ptr, depth + 1, true);
                return;
            }
        }
        if let Some(ty) = schema_obj.get("type").and_then(Value::as_str) {
            if !type_matches(ty, value) {
                self.error(
                    ptr,
                    format!("expected {}, got {}", article(ty), describe(value)),
                );
                return;
            }
        }
        if let Some(options) = schema_obj.get("enum").and_then(Value::as_array) {
            let extensible = self.direction == Direction::Response
                && schema_obj
                    .get("x-ms-enum")
                    .and_then(|e| e.get("modelAsString"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            if !(options.contains(value) || (extensible && value.is_string())) {
                let list: Vec<String> = options.iter().map(Value::to_string).collect();
                self.error(ptr, format!("{value} is not one of [{}]", list.join(", ")));
            }
        }
        self.check_format(schema_obj, value, ptr);
        self.check_bounds(schema_obj, value, ptr);
        match value {
            Value::Object(map) => {
                let is_object_schema = schema_obj.get("type").and_then(Value::as_str)
                    == Some("object")
                    || schema_obj.contains_key("properties")
                    || schema_obj.contains_key("allOf")
                    || schema_obj.contains_key("additionalProperties");
                if is_object_schema {
                    let mut shape = ObjectShape::default();
                    self.collect_shape(doc, schema, &mut shape, ptr, depth);
                    self.check_object(&shape, map, ptr, depth);
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema_obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        let len = ptr.len();
                        ptr.push('/');
                        ptr.push_str(&i.to_string());
                        self.check(doc, item_schema, None, item, ptr, depth + 1, true);
                        ptr.truncate(len);
                    }
                }
            }
            _ => {}
        }
    }

    /// For a polymorphic base (`discriminator: "prop"`), the derived definition whose
    /// `x-ms-discriminator-value` (or name) equals the value's `prop`.
    fn derived_for(
        &mut self,
        doc: Doc,
        schema: &'static Map<String, Value>,
        name: Option<&'static str>,
        value: &Value,
    ) -> Option<(Doc, &'static Value, &'static str)> {
        let prop = schema.get("discriminator")?.as_str()?;
        let base = name?;
        let wanted = value.get(prop)?.as_str()?;
        if wanted == base {
            return None;
        }
        let defs = spec().doc(doc).get("definitions")?.as_object()?;
        let base_ref = format!("#/definitions/{base}");
        defs.iter().find_map(|(sub_name, sub)| {
            let derives = sub.get("allOf")?.as_array()?.iter().any(|parent| {
                parent.get("$ref").and_then(Value::as_str) == Some(base_ref.as_str())
            });
            let tag = sub
                .get("x-ms-discriminator-value")
                .and_then(Value::as_str)
                .unwrap_or(sub_name.as_str());
            (derives && tag == wanted).then_some((doc, sub, sub_name.as_str()))
        })
    }

    /// Merges the properties, required list and additionalProperties of a schema and every
    /// schema it inherits through `allOf`/`$ref`. The most-derived `additionalProperties` wins.
    fn collect_shape(
        &mut self,
        doc: Doc,
        schema: &'static Value,
        shape: &mut ObjectShape,
        ptr: &str,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            self.error(ptr, "schema nests too deeply (cyclic allOf?)");
            return;
        }
        let Some(obj) = schema.as_object() else {
            return;
        };
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            match resolve(doc, reference) {
                Some((d, s, _)) => self.collect_shape(d, s, shape, ptr, depth + 1),
                None => self.error(ptr, format!("unresolvable $ref {reference:?}")),
            }
            return;
        }
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                if !shape.properties.iter().any(|(_, name, _)| *name == k) {
                    shape.properties.push((doc, k.as_str(), v));
                }
            }
        }
        if let Some(req) = obj.get("required").and_then(Value::as_array) {
            shape.required.extend(req.iter().filter_map(Value::as_str));
        }
        if shape.additional.is_none() {
            if let Some(a) = obj.get("additionalProperties") {
                shape.additional = Some((doc, a));
            }
        }
        if let Some(parents) = obj.get("allOf").and_then(Value::as_array) {
            for parent in parents {
                self.collect_shape(doc, parent, shape, ptr, depth + 1);
            }
        }
    }

    fn check_object(
        &mut self,
        shape: &ObjectShape,
        map: &Map<String, Value>,
        ptr: &mut String,
        depth: usize,
    ) {
        for required in &shape.required {
            match map.get(*required) {
                None => self.error(ptr, format!("missing required property {required:?}")),
                Some(Value::Null) => {
                    self.error(ptr, format!("required property {required:?} is null"))
                }
                Some(_) => {}
            }
        }
        for (key, item) in map {
            let len = ptr.len();
            ptr.push('/');
            ptr.push_str(&escape_pointer(key));
            match shape.properties.iter().find(|(_, name, _)| *name == key) {
                Some((doc, _, prop_schema)) => {
                    let read_only = prop_schema
                        .get("readOnly")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    // null: absent if optional; if required it was reported above.
                    let skip =
                        item.is_null() || (read_only && self.direction == Direction::Request);
                    if !skip {
                        self.check(*doc, prop_schema, None, item, ptr, depth + 1, true);
                    }
                }
                None => match shape.additional {
                    Some((_, Value::Bool(false))) => {
                        let owned = ptr.clone();
                        self.error(&owned, format!("unknown property {key:?}"));
                    }
                    Some((doc, extra @ Value::Object(_))) => {
                        self.check(doc, extra, None, item, ptr, depth + 1, true);
                    }
                    _ => {}
                },
            }
            ptr.truncate(len);
        }
    }

    fn check_format(&mut self, schema: &Map<String, Value>, value: &Value, ptr: &str) {
        let Some(format) = schema.get("format").and_then(Value::as_str) else {
            return;
        };
        let problem = match (format, value) {
            ("int32", Value::Number(n)) => n
                .as_i64()
                .is_none_or(|i| i32::try_from(i).is_err())
                .then(|| format!("{n} does not fit in int32")),
            ("int64", Value::Number(n)) => n
                .as_i64()
                .is_none()
                .then(|| format!("{n} does not fit in int64")),
            ("date-time", Value::String(s)) => {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .is_err()
                    .then(|| format!("{s:?} is not an RFC 3339 date-time"))
            }
            ("date-time-rfc1123", Value::String(s)) => httpdate::parse_http_date(s)
                .is_err()
                .then(|| format!("{s:?} is not an RFC 1123 date")),
            ("uri", Value::String(s)) => url::Url::parse(s)
                .is_err()
                .then(|| format!("{s:?} is not an absolute URI")),
            ("uuid", Value::String(s)) => (!is_uuid(s)).then(|| format!("{s:?} is not a UUID")),
            _ => None,
        };
        if let Some(message) = problem {
            self.error(ptr, message);
        }
    }

    fn check_bounds(&mut self, schema: &Map<String, Value>, value: &Value, ptr: &str) {
        let flag = |k: &str| schema.get(k).and_then(Value::as_bool).unwrap_or(false);
        if let Some(n) = value.as_f64() {
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
                let exclusive = flag("exclusiveMinimum");
                if n < min || (exclusive && n == min) {
                    let op = if exclusive { ">" } else { ">=" };
                    self.error(ptr, format!("{value} is out of range: must be {op} {min}"));
                }
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
                let exclusive = flag("exclusiveMaximum");
                if n > max || (exclusive && n == max) {
                    let op = if exclusive { "<" } else { "<=" };
                    self.error(ptr, format!("{value} is out of range: must be {op} {max}"));
                }
            }
        }
        let limit = |k: &str| schema.get(k).and_then(Value::as_u64);
        let len = match value {
            Value::String(s) => Some((s.chars().count() as u64, "minLength", "maxLength")),
            Value::Array(a) => Some((a.len() as u64, "minItems", "maxItems")),
            _ => None,
        };
        if let Some((len, min_key, max_key)) = len {
            if let Some(min) = limit(min_key) {
                if len < min {
                    self.error(ptr, format!("length {len} is below {min_key} {min}"));
                }
            }
            if let Some(max) = limit(max_key) {
                if len > max {
                    self.error(ptr, format!("length {len} is above {max_key} {max}"));
                }
            }
        }
    }
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        // Strict: `1.0` is a float on the wire and the service's int parser rejects it.
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "null" => value.is_null(),
        // A type we do not know cannot be checked; `file` is the only other Swagger 2.0 type.
        _ => true,
    }
}

fn article(ty: &str) -> String {
    match ty {
        "object" | "array" | "integer" => format!("an {ty}"),
        _ => format!("a {ty}"),
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a non-integer number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// 8-4-4-4-12 hex digits (any version; the service only parses a GUID).
pub(crate) fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    groups.len() == 5
        && groups
            .iter()
            .zip(lens)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(def: &str, v: Value) -> Vec<String> {
        match validate(def, &v) {
            Ok(()) => Vec::new(),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    fn teams(oid: &str) -> Value {
        json!({"kind": "microsoftTeamsUser", "rawId": format!("8:orgid:{oid}"),
               "microsoftTeamsUser": {"userId": oid, "cloud": "public"}})
    }

    #[test]
    fn valid_add_participant() {
        let body = json!({
            "participantToAdd": teams("oid1"),
            "invitationTimeoutInSeconds": 30,
            "operationContext": "ctx",
            "customCallingContext": {"voipHeaders": {"x-a": "1"}, "sipHeaders": {}}
        });
        assert_eq!(errors("AddParticipantRequest", body), Vec::<String>::new());
    }

    #[test]
    fn extra_wrong_type_missing_required_and_range() {
        let errs = errors(
            "AddParticipantRequest",
            json!({"invitationTimeoutInSeconds": 181, "bogus": 1, "operationContext": 5}),
        );
        assert_eq!(
            errs,
            vec![
                "/: missing required property \"participantToAdd\"",
                "/bogus: unknown property \"bogus\"",
                "/invitationTimeoutInSeconds: 181 is out of range: must be <= 180",
                "/operationContext: expected a string, got an integer",
            ]
        );
    }

    #[test]
    fn nested_errors_carry_pointers_through_refs_and_arrays() {
        let errs = errors(
            "PlayRequest",
            json!({"playSources": [{"kind": "file", "file": {"uri": "u"}}, {"kind": "video"}],
                   "playTo": [{"kind": "communicationUser", "communicationUser": {}}]}),
        );
        assert_eq!(
            errs,
            vec![
                "/playSources/1/kind: \"video\" is not one of [\"file\", \"text\", \"ssml\"]",
                "/playTo/0/communicationUser: missing required property \"id\"",
            ]
        );
    }

    #[test]
    fn cross_file_refs_resolve_and_common_models_allow_extras() {
        // The common identifier models do not set additionalProperties: false.
        assert!(errors(
            "RemoveParticipantRequest",
            json!({"participantToRemove": {"rawId": "4:+1", "phoneNumber": {"value": "+1", "x": 1}}})
        )
        .is_empty());
        let errs = errors(
            "RemoveParticipantRequest",
            json!({"participantToRemove": {"kind": "robot", "microsoftTeamsUser": {"userId": "u", "cloud": "mars"}}}),
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("/participantToRemove/kind: \"robot\" is not one of"));
        assert!(errs[1].starts_with("/participantToRemove/microsoftTeamsUser/cloud:"));
    }

    #[test]
    fn integers_are_strict_and_int32_bounded() {
        let base =
            |v: Value| json!({"participantToAdd": teams("o"), "invitationTimeoutInSeconds": v});
        assert!(errors("AddParticipantRequest", base(json!(0))).is_empty());
        assert_eq!(
            errors("AddParticipantRequest", base(json!(1.5))),
            vec!["/invitationTimeoutInSeconds: expected an integer, got a non-integer number"]
        );
        assert_eq!(
            errors("AddParticipantRequest", base(json!(-1))),
            vec!["/invitationTimeoutInSeconds: -1 is out of range: must be >= 0"]
        );
        let errs = errors(
            "RecognizeRequest",
            json!({"recognizeInputType": "dtmf", "recognizeOptions": {
                "targetParticipant": teams("o"),
                "dtmfOptions": {"maxTonesToCollect": 4294967296u64}}}),
        );
        assert_eq!(
            errs,
            vec![
                "/recognizeOptions/dtmfOptions/maxTonesToCollect: 4294967296 does not fit in int32"
            ]
        );
    }

    #[test]
    fn formats() {
        let storage = |url: &str| {
            json!({"callConnectionId": "c", "externalStorage": {
                "recordingStorageKind": "azureBlobStorage", "recordingDestinationContainerUrl": url}})
        };
        assert!(errors(
            "StartCallRecordingRequest",
            storage("https://x.blob.core.windows.net/r")
        )
        .is_empty());
        assert_eq!(
            errors("StartCallRecordingRequest", storage("not a uri")),
            vec!["/externalStorage/recordingDestinationContainerUrl: \"not a uri\" is not an absolute URI"]
        );
        assert!(validate_response(
            "RecordingStateChanged",
            &json!({"startDateTime": "2026-03-12T10:00:00Z"})
        )
        .is_ok());
        let errs = validate_response(
            "RecordingStateChanged",
            &json!({"startDateTime": "yesterday"}),
        )
        .unwrap_err();
        assert_eq!(
            errs[0].message,
            "\"yesterday\" is not an RFC 3339 date-time"
        );
        assert!(is_uuid("0f50d091-5bd3-448b-884d-44be7037d9b9"));
        assert!(!is_uuid("0f50d091-5bd3-448b-884d-44be7037d9bz"));
        assert!(!is_uuid("0f50d0915bd3448b884d44be7037d9b9"));
    }

    #[test]
    fn optional_null_is_absent_required_null_is_not() {
        assert!(errors(
            "StartCallRecordingRequest",
            json!({"callConnectionId": "c", "recordingContentType": null})
        )
        .is_empty());
        assert_eq!(
            errors("RejectCallRequest", json!({"incomingCallContext": null})),
            vec!["/: required property \"incomingCallContext\" is null"]
        );
        assert_eq!(
            errors("RejectCallRequest", Value::Null),
            vec!["/: expected an object, got null"]
        );
    }

    #[test]
    fn discriminator_dispatches_to_the_derived_model() {
        let ok = json!({"targets": [teams("o")], "callbackUri": "https://cb",
            "mediaStreamingOptions": {"transportType": "websocket", "audioChannelType": "mixed",
                "transportUrl": "wss://x", "startMediaStreaming": true, "audioFormat": "pcm16KMono"}});
        assert!(errors("CreateCallRequest", ok).is_empty());
        // Derived-model property with a wrong type is caught only through the dispatch.
        let bad = json!({"targets": [teams("o")], "callbackUri": "https://cb",
            "mediaStreamingOptions": {"transportType": "websocket", "audioChannelType": "mixed",
                "startMediaStreaming": "yes", "audioFormat": "pcm8"}});
        assert_eq!(
            errors("CreateCallRequest", bad),
            vec![
                "/mediaStreamingOptions/audioFormat: \"pcm8\" is not one of [\"pcm16KMono\", \"pcm24KMono\"]",
                "/mediaStreamingOptions/startMediaStreaming: expected a boolean, got a string",
            ]
        );
        // An unknown transport falls back to the base, whose enum rejects it; base-required
        // properties still apply.
        let unknown = json!({"targets": [teams("o")], "callbackUri": "https://cb",
            "transcriptionOptions": {"transportType": "grpc"}});
        assert_eq!(
            errors("CreateCallRequest", unknown),
            vec![
                "/transcriptionOptions: missing required property \"locale\"",
                "/transcriptionOptions/transportType: \"grpc\" is not one of [\"websocket\"]",
            ]
        );
    }

    #[test]
    fn read_only_and_extensible_enums_depend_on_direction() {
        let err = json!({"error": {"code": "8523", "message": "Invalid request.", "target": 7}});
        // Request direction: readOnly `target` is ignored, as a server would.
        assert!(validate("CommunicationErrorResponse", &err).is_ok());
        // Response direction: it is checked.
        let errs = validate_response("CommunicationErrorResponse", &err).unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "/error/target: expected a string, got an integer"
        );
        let state = json!({"callConnectionState": "parked"});
        assert!(validate_response("CallConnectionProperties", &state).is_ok());
        assert!(validate("CallConnectionProperties", &state).is_err());
    }

    #[test]
    fn unknown_definition_is_an_error_not_a_panic() {
        assert_eq!(
            errors("NoSuchModel", json!({})),
            vec!["/: unknown definition \"NoSuchModel\""]
        );
        assert!(has_definition("CreateCallRequest"));
        assert!(!has_definition("NoSuchModel"));
    }

    #[test]
    fn pointer_escaping() {
        let errs = errors(
            "AddParticipantRequest",
            json!({"participantToAdd": teams("o"), "a/b~c": 1}),
        );
        assert_eq!(errs, vec!["/a~1b~0c: unknown property \"a/b~c\""]);
    }

    /// Fails the day the document starts using a keyword this validator would silently skip.
    #[test]
    fn the_documents_use_only_supported_keywords() {
        fn walk(schema: &Value, path: &str, out: &mut Vec<String>) {
            let Some(obj) = schema.as_object() else {
                return;
            };
            for (k, v) in obj {
                if !SUPPORTED_KEYWORDS.contains(&k.as_str()) {
                    out.push(format!("{path}: {k}"));
                }
                match k.as_str() {
                    "properties" => {
                        for (name, p) in v.as_object().into_iter().flatten() {
                            walk(p, &format!("{path}.{name}"), out);
                        }
                    }
                    "items" | "additionalProperties" => walk(v, &format!("{path}[]"), out),
                    "allOf" => {
                        for p in v.as_array().into_iter().flatten() {
                            walk(p, path, out);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut unsupported = Vec::new();
        for doc in [spec().call_automation(), spec().common()] {
            for (name, def) in doc["definitions"].as_object().unwrap() {
                walk(def, name, &mut unsupported);
            }
        }
        assert_eq!(unsupported, Vec::<String>::new());
    }
}
