//! The operation table, read from the embedded document (not written by hand).
//!
//! For every operation: HTTP method, path template, path parameters, the body parameter and
//! its definition, whether it takes `Repeatability-Request-ID` / `Repeatability-First-Sent`,
//! the success statuses with their response definitions, the error definition, and paging.
//! The client renders request paths with [`Operation::render_path`]; the simulator routes
//! incoming requests with [`find_operation`]. Both use the same percent-encoding, so a
//! participant raw id such as `4:+14255550123` travels as `4%3A%2B14255550123` either way.

use std::sync::OnceLock;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

use crate::schema::{self, Direction, ValidationError};
use crate::spec::spec;

/// The repeatability request-id header.
pub const REPEATABILITY_REQUEST_ID: &str = "Repeatability-Request-ID";
/// The repeatability first-sent header.
pub const REPEATABILITY_FIRST_SENT: &str = "Repeatability-First-Sent";

/// Everything except RFC 3986 unreserved characters is escaped in a path parameter; this is
/// what the official SDKs do (`Uri.EscapeDataString`), so `:` and `+` in raw ids are escaped.
const PATH_PARAM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The request body an operation takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyParameter {
    /// The parameter's name in the document (also the key in example files).
    pub name: String,
    /// The definition the body must validate against.
    pub definition: String,
    /// Whether the body must be present.
    pub required: bool,
}

/// One success response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuccessResponse {
    /// The HTTP status.
    pub status: u16,
    /// The definition of its body, if it has one.
    pub definition: Option<String>,
}

/// `x-ms-pageable`: where the next-page link and the items are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paging {
    /// Property holding the next page's URL (`nextLink`).
    pub next_link_name: String,
    /// Property holding the page's items (`value`).
    pub item_name: String,
}

/// One operation of the Call Automation API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The `operationId`, e.g. `CallConnection_AddParticipant`.
    pub operation_id: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// Path template, e.g. `/calling/callConnections/{callConnectionId}/participants:add`.
    pub path: String,
    /// Names of the `{…}` path parameters, in order.
    pub path_params: Vec<String>,
    /// The body parameter, if the operation takes one.
    pub body: Option<BodyParameter>,
    /// Whether it takes `Repeatability-Request-ID` and `Repeatability-First-Sent`.
    pub repeatable: bool,
    /// Success statuses (every numeric response), ascending.
    pub responses: Vec<SuccessResponse>,
    /// The `default` (error) response's definition.
    pub error_definition: Option<String>,
    /// Paging, for list operations.
    pub paging: Option<Paging>,
    /// Example file names (without `.json`) the document points at; some are not embedded.
    pub examples: Vec<String>,
}

impl Operation {
    /// Whether `status` is one of the documented success statuses.
    pub fn is_success(&self, status: u16) -> bool {
        self.responses.iter().any(|r| r.status == status)
    }

    /// The documented success statuses.
    pub fn success_statuses(&self) -> Vec<u16> {
        self.responses.iter().map(|r| r.status).collect()
    }

    /// The body definition of the success response with this status.
    pub fn response_definition(&self, status: u16) -> Option<&str> {
        self.responses
            .iter()
            .find(|r| r.status == status)
            .and_then(|r| r.definition.as_deref())
    }

    /// The path with each `{name}` replaced by its percent-encoded value. `None` if a path
    /// parameter is missing or empty (an empty segment would address a different resource).
    pub fn render_path(&self, params: &[(&str, &str)]) -> Option<String> {
        let mut out = String::with_capacity(self.path.len() + 64);
        let mut rest = self.path.as_str();
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}')?;
            out.push_str(&rest[..open]);
            let name = &rest[open + 1..close];
            let value = params.iter().find(|(n, _)| *n == name)?.1;
            if value.is_empty() {
                return None;
            }
            out.extend(utf8_percent_encode(value, PATH_PARAM));
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        Some(out)
    }

    /// Matches a request path (no query) against this template. Returns the decoded path
    /// parameters on a match.
    pub fn match_path(&self, path: &str) -> Option<Vec<(String, String)>> {
        let template: Vec<&str> = self.path.split('/').collect();
        let actual: Vec<&str> = path.split('/').collect();
        if template.len() != actual.len() {
            return None;
        }
        let mut params = Vec::new();
        for (t, a) in template.iter().zip(&actual) {
            match (t.find('{'), t.find('}')) {
                (Some(open), Some(close)) if open < close => {
                    let (prefix, suffix) = (&t[..open], &t[close + 1..]);
                    let middle = a.strip_prefix(prefix)?.strip_suffix(suffix)?;
                    if middle.is_empty() {
                        return None;
                    }
                    let decoded = percent_decode_str(middle).decode_utf8().ok()?;
                    params.push((t[open + 1..close].to_owned(), decoded.into_owned()));
                }
                _ if t == a => {}
                _ => return None,
            }
        }
        Some(params)
    }

    /// Validates a request body against this operation's body definition.
    pub fn validate_body(&self, body: &Value) -> Result<(), Vec<ValidationError>> {
        match &self.body {
            Some(b) => schema::validate(&b.definition, body),
            None => Err(vec![ValidationError {
                pointer: String::new(),
                message: format!("{} takes no request body", self.operation_id),
            }]),
        }
    }

    /// Validates a success response body for `status`.
    pub fn validate_response(&self, status: u16, body: &Value) -> Result<(), Vec<ValidationError>> {
        match self.response_definition(status) {
            Some(def) => schema::validate_as(def, body, Direction::Response),
            None => Err(vec![ValidationError {
                pointer: String::new(),
                message: format!(
                    "{} documents no body for status {status}",
                    self.operation_id
                ),
            }]),
        }
    }

    /// Literal characters in the template; the more, the more specific (`{id}:terminate`
    /// beats `{id}` for `/calling/callConnections/abc:terminate`).
    fn specificity(&self) -> usize {
        let mut n = 0;
        let mut depth = 0;
        for c in self.path.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ if depth == 0 => n += 1,
                _ => {}
            }
        }
        n
    }
}

/// Every operation in the embedded document.
pub fn operations() -> &'static [Operation] {
    static TABLE: OnceLock<Vec<Operation>> = OnceLock::new();
    TABLE.get_or_init(|| build_table(spec().call_automation()))
}

/// One operation by `operationId`.
pub fn operation(operation_id: &str) -> Option<&'static Operation> {
    operations().iter().find(|o| o.operation_id == operation_id)
}

/// The operation a request addresses, with its decoded path parameters. `path` is the
/// request path without the query. When several templates match, the most specific wins.
pub fn find_operation(
    method: &str,
    path: &str,
) -> Option<(&'static Operation, Vec<(String, String)>)> {
    operations()
        .iter()
        .filter(|o| o.method.eq_ignore_ascii_case(method))
        .filter_map(|o| o.match_path(path).map(|p| (o, p)))
        .max_by_key(|(o, _)| o.specificity())
}

fn build_table(doc: &Value) -> Vec<Operation> {
    let empty = Map::new();
    let shared_params = doc
        .get("parameters")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = Vec::new();
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty)
    {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            let Some(operation_id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let params: Vec<&Value> = op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| match p.get("$ref").and_then(Value::as_str) {
                    Some(r) => r
                        .strip_prefix("#/parameters/")
                        .and_then(|n| shared_params.get(n)),
                    None => Some(p),
                })
                .collect();
            let location = |p: &Value, loc: &str| p.get("in").and_then(Value::as_str) == Some(loc);
            let name = |p: &Value| {
                p.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let headers: Vec<String> = params
                .iter()
                .filter(|p| location(p, "header"))
                .map(|p| name(p))
                .collect();
            let body = params.iter().find(|p| location(p, "body")).and_then(|p| {
                Some(BodyParameter {
                    name: name(p),
                    definition: definition_name(p.get("schema")?)?,
                    required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                })
            });
            let responses_obj = op
                .get("responses")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let mut responses: Vec<SuccessResponse> = responses_obj
                .iter()
                .filter_map(|(code, r)| {
                    Some(SuccessResponse {
                        status: code.parse().ok()?,
                        definition: r.get("schema").and_then(definition_name),
                    })
                })
                .collect();
            responses.sort_by_key(|r| r.status);
            let paging = op.get("x-ms-pageable").map(|p| Paging {
                next_link_name: p
                    .get("nextLinkName")
                    .and_then(Value::as_str)
                    .unwrap_or("nextLink")
                    .to_owned(),
                item_name: p
                    .get("itemName")
                    .and_then(Value::as_str)
                    .unwrap_or("value")
                    .to_owned(),
            });
            let examples = op
                .get("x-ms-examples")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(_, e)| {
                    let r = e.get("$ref")?.as_str()?;
                    let file = r.rsplit('/').next()?;
                    Some(file.strip_suffix(".json").unwrap_or(file).to_owned())
                })
                .collect();
            out.push(Operation {
                operation_id: operation_id.to_owned(),
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                path_params: params
                    .iter()
                    .filter(|p| location(p, "path"))
                    .map(|p| name(p))
                    .collect(),
                body,
                repeatable: headers.iter().any(|h| h == REPEATABILITY_REQUEST_ID)
                    && headers.iter().any(|h| h == REPEATABILITY_FIRST_SENT),
                responses,
                error_definition: responses_obj
                    .get("default")
                    .and_then(|r| r.get("schema"))
                    .and_then(definition_name),
                paging,
                examples,
            });
        }
    }
    out
}

/// `{"$ref": "#/definitions/X"}` → `X`.
fn definition_name(schema: &Value) -> Option<String> {
    schema
        .get("$ref")?
        .as_str()?
        .strip_prefix("#/definitions/")
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_read_from_the_document() {
        let ops = operations();
        assert_eq!(ops.len(), 34);
        let add = operation("CallConnection_AddParticipant").unwrap();
        assert_eq!(add.method, "POST");
        assert_eq!(
            add.path,
            "/calling/callConnections/{callConnectionId}/participants:add"
        );
        assert_eq!(add.path_params, vec!["callConnectionId"]);
        assert_eq!(
            add.body,
            Some(BodyParameter {
                name: "addParticipantRequest".into(),
                definition: "AddParticipantRequest".into(),
                required: true
            })
        );
        assert!(add.repeatable);
        assert_eq!(add.success_statuses(), vec![202]);
        assert_eq!(add.response_definition(202), Some("AddParticipantResponse"));
        assert_eq!(
            add.error_definition.as_deref(),
            Some("CommunicationErrorResponse")
        );
        assert_eq!(add.examples, vec!["CallConnection_AddParticipant"]);

        let create = operation("CreateCall").unwrap();
        assert_eq!(create.success_statuses(), vec![201]);
        let hangup = operation("CallConnection_HangupCall").unwrap();
        assert_eq!(
            (hangup.method.as_str(), hangup.repeatable),
            ("DELETE", false)
        );
        assert_eq!(hangup.response_definition(204), None);
        let terminate = operation("CallConnection_TerminateCall").unwrap();
        assert!(terminate.repeatable && terminate.body.is_none());
        assert!(!operation("CallMedia_Play").unwrap().repeatable);
        let rec = operation("CallRecording_StartRecording").unwrap();
        assert_eq!(rec.success_statuses(), vec![200, 202]);
        let list = operation("CallConnection_GetParticipants").unwrap();
        assert_eq!(
            list.paging,
            Some(Paging {
                next_link_name: "nextLink".into(),
                item_name: "value".into()
            })
        );
        assert!(operation("Nope").is_none());
    }

    #[test]
    fn render_path_percent_encodes_raw_ids() {
        let op = operation("CallConnection_GetParticipant").unwrap();
        assert_eq!(
            op.render_path(&[
                ("callConnectionId", "18dea47f-b081"),
                ("participantRawId", "4:+14255550123")
            ])
            .as_deref(),
            Some("/calling/callConnections/18dea47f-b081/participants/4%3A%2B14255550123")
        );
        assert_eq!(
            op.render_path(&[
                ("callConnectionId", "a/b?c"),
                ("participantRawId", "8:acs:x_y")
            ])
            .as_deref(),
            Some("/calling/callConnections/a%2Fb%3Fc/participants/8%3Aacs%3Ax_y")
        );
        assert_eq!(op.render_path(&[("callConnectionId", "a")]), None);
        assert_eq!(
            op.render_path(&[("callConnectionId", ""), ("participantRawId", "x")]),
            None
        );
    }

    #[test]
    fn find_operation_prefers_the_most_specific_template() {
        let (op, params) =
            find_operation("post", "/calling/callConnections/abc:terminate").unwrap();
        assert_eq!(op.operation_id, "CallConnection_TerminateCall");
        assert_eq!(params, vec![("callConnectionId".into(), "abc".into())]);
        let (op, _) = find_operation("GET", "/calling/callConnections/abc").unwrap();
        assert_eq!(op.operation_id, "CallConnection_GetCall");
        let (op, _) = find_operation("DELETE", "/calling/callConnections/abc").unwrap();
        assert_eq!(op.operation_id, "CallConnection_HangupCall");
        let (op, _) = find_operation("POST", "/calling/callConnections:answer").unwrap();
        assert_eq!(op.operation_id, "AnswerCall");
        let (op, params) = find_operation(
            "GET",
            "/calling/callConnections/c1/participants/4%3A%2B14255550123",
        )
        .unwrap();
        assert_eq!(op.operation_id, "CallConnection_GetParticipant");
        assert_eq!(
            params[1],
            ("participantRawId".into(), "4:+14255550123".into())
        );
        let (op, _) = find_operation("POST", "/calling/recordings/r1:pause").unwrap();
        assert_eq!(op.operation_id, "CallRecording_PauseRecording");
        assert!(find_operation("GET", "/calling/callConnections/").is_none());
        assert!(find_operation("PUT", "/calling/callConnections/abc").is_none());
        assert!(find_operation("GET", "/calling/nothing").is_none());
    }

    #[test]
    fn render_and_match_round_trip_for_every_operation() {
        for op in operations() {
            let values: Vec<(&str, &str)> = op
                .path_params
                .iter()
                .map(|p| (p.as_str(), "8:acs:a_b+c/d e"))
                .collect();
            let path = op.render_path(&values).unwrap();
            let (found, params) = find_operation(&op.method, &path).unwrap();
            assert_eq!(found.operation_id, op.operation_id, "{path}");
            for (_, v) in params {
                assert_eq!(v, "8:acs:a_b+c/d e");
            }
        }
    }
}
