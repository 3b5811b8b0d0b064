//! The Microsoft Graph subset the routing engine uses, with Graph's JSON shapes and errors:
//!
//! - `GET /v1.0/users?$search="displayName:…"` — needs `ConsistencyLevel: eventual`, as Graph
//!   does for `$search`; clauses may be joined with `OR` / `AND`; `$select` and `$top` honoured.
//! - `GET /v1.0/users/{id | userPrincipalName}`
//! - `GET /v1.0/users/{id}/presence`
//! - `POST /v1.0/communications/getPresencesByUserId` `{"ids": [...]}` (at most 650 ids)
//!
//! Every request needs `Authorization: Bearer …` (a specific token when configured).
//! Throttling (429 + `Retry-After`) and other faults come from the fault engine under the
//! operation ids `Graph_SearchUsers`, `Graph_GetUser`, `Graph_GetPresence`,
//! `Graph_GetPresencesByUserId`.

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{apply_faults, AppState, Surface};
use crate::auth::constant_time_eq;
use crate::engine::control::AgentSnapshot;
use crate::error::GraphError;
use crate::net::ConnMeta;

const GRAPH_CONTEXT: &str = "https://graph.microsoft.com/v1.0/$metadata";
const MAX_PRESENCE_IDS: usize = 650;

fn check_auth(app: &AppState, headers: &HeaderMap) -> Result<(), GraphError> {
    let verdict = check_bearer(app, headers);
    super::record::note(|r| {
        r.auth = match &verdict {
            Ok(()) => crate::request_log::AuthCheck::Bearer,
            Err(e) => crate::request_log::AuthCheck::Failed {
                reason: e.message.clone(),
            },
        }
    });
    verdict
}

fn check_bearer(app: &AppState, headers: &HeaderMap) -> Result<(), GraphError> {
    let unauthorized =
        |msg: &str| GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", msg);
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("Access token is empty."))?;
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("Access token is empty."))?;
    if let Some(expected) = &app.graph_bearer {
        if !constant_time_eq(token.as_bytes(), expected.expose().as_bytes()) {
            return Err(unauthorized(
                "Access token validation failure. Invalid audience.",
            ));
        }
    }
    Ok(())
}

fn user_json(a: &AgentSnapshot) -> Value {
    let mut parts = a.spec.display_name.splitn(2, ' ');
    let given = parts.next().filter(|s| !s.is_empty());
    let surname = parts.next();
    json!({
        "businessPhones": [],
        "displayName": a.spec.display_name,
        "givenName": given,
        "jobTitle": a.spec.job_title,
        "mail": a.spec.mail.clone().or_else(|| Some(a.spec.user_principal_name.clone())),
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": null,
        "surname": surname,
        "userPrincipalName": a.spec.user_principal_name,
        "id": a.spec.id,
    })
}

fn presence_json(id: &str, availability: &str, activity: &str) -> Value {
    json!({
        "id": id,
        "availability": availability,
        "activity": activity,
        "statusMessage": null,
        "outOfOfficeSettings": {"message": null, "isOutOfOffice": false},
    })
}

fn find_agent(app: &AppState, key: &str) -> Option<AgentSnapshot> {
    app.engine.agent(key).or_else(|| {
        app.engine
            .agents()
            .into_iter()
            .find(|a| a.spec.user_principal_name.eq_ignore_ascii_case(key))
    })
}

fn not_found(key: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present."),
    )
}

/// A `$search` clause: `"property:term"`.
#[derive(Debug, PartialEq, Eq)]
struct Clause {
    property: String,
    term: String,
}

#[derive(Debug, PartialEq, Eq)]
enum Join {
    Or,
    And,
}

/// Parse `"displayName:ad" OR "mail:bo"`. Graph requires the quotes.
fn parse_search(s: &str) -> Result<(Vec<Clause>, Join), String> {
    let s = s.trim();
    let mut clauses = Vec::new();
    let mut join = None;
    let mut rest = s;
    loop {
        let r = rest.trim_start();
        let Some(r) = r.strip_prefix('"') else {
            return Err(format!(
                "Syntax error: character '{}' is not valid at position 0 in '{s}'.",
                r.chars().next().unwrap_or(' ')
            ));
        };
        let (inner, end) =
            quoted(r).ok_or_else(|| format!("Syntax error: unterminated string in '{s}'."))?;
        let inner = inner.as_str();
        let (prop, term) = inner.split_once(':').ok_or_else(|| {
            format!("Invalid $search clause '{inner}': expected \"property:value\".")
        })?;
        clauses.push(Clause {
            property: prop.trim().to_owned(),
            term: term.trim().to_lowercase(),
        });
        rest = r[end + 1..].trim_start();
        if rest.is_empty() {
            break;
        }
        let (j, after) = if let Some(a) = rest.strip_prefix("OR ") {
            (Join::Or, a)
        } else if let Some(a) = rest.strip_prefix("AND ") {
            (Join::And, a)
        } else {
            return Err(format!("Syntax error in $search near '{rest}'."));
        };
        if join.as_ref().is_some_and(|x| *x != j) {
            return Err("Mixing AND and OR in one $search is not supported.".into());
        }
        join = Some(j);
        rest = after;
    }
    Ok((clauses, join.unwrap_or(Join::Or)))
}

/// The text of a `$search` string up to its closing quote, with Graph's `\"` and `\\`
/// escapes undone, and the index of that quote.
fn quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i)),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

/// Graph's tokenised prefix match: any word (split on spaces and punctuation) or the whole
/// value starts with the term.
fn matches(value: &str, term: &str) -> bool {
    let v = value.to_lowercase();
    v.starts_with(term)
        || v.split(|c: char| !c.is_alphanumeric())
            .any(|w| !w.is_empty() && w.starts_with(term))
}

fn property<'a>(a: &'a AgentSnapshot, name: &str) -> Option<&'a str> {
    match name {
        "displayName" => Some(&a.spec.display_name),
        "userPrincipalName" => Some(&a.spec.user_principal_name),
        "mail" => Some(
            a.spec
                .mail
                .as_deref()
                .unwrap_or(&a.spec.user_principal_name),
        ),
        "jobTitle" => a.spec.job_title.as_deref(),
        "givenName" => a.spec.display_name.split(' ').next(),
        "surname" => a.spec.display_name.split_once(' ').map(|(_, s)| s),
        _ => None,
    }
}

/// `GET /v1.0/users`.
pub(crate) async fn search_users(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(r) = apply_faults(&app, "Graph_SearchUsers", Surface::Graph, &conn).await {
        return r;
    }
    match search(&app, &headers, query.as_deref()) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn search(app: &AppState, headers: &HeaderMap, query: Option<&str>) -> Result<Value, GraphError> {
    check_auth(app, headers)?;
    let params: Vec<(String, String)> = query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let bad =
        |msg: String| GraphError::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", msg);
    let mut users = app.engine.agents();
    if let Some(search) = get("$search") {
        let eventual = headers
            .get("consistencylevel")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
        if !eventual {
            return Err(bad(
                "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'".into(),
            ));
        }
        let (clauses, join) = parse_search(search)
            .map_err(|m| GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", m))?;
        for c in &clauses {
            if !matches!(
                c.property.as_str(),
                "displayName" | "userPrincipalName" | "mail" | "jobTitle" | "givenName" | "surname"
            ) {
                return Err(bad(format!(
                    "Unsupported property '{}' for $search on users.",
                    c.property
                )));
            }
        }
        users.retain(|a| {
            let hit = |c: &Clause| property(a, &c.property).is_some_and(|v| matches(v, &c.term));
            match join {
                Join::Or => clauses.iter().any(hit),
                Join::And => clauses.iter().all(hit),
            }
        });
    }
    if let Some(top) = get("$top") {
        let n: usize = top
            .parse()
            .ok()
            .filter(|n| (1..=999).contains(n))
            .ok_or_else(|| GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", format!("Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.")))?;
        users.truncate(n);
    }
    let select: Option<Vec<String>> = get("$select").map(|s| {
        s.split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect()
    });
    let value: Vec<Value> = users
        .iter()
        .map(|a| {
            let mut u = user_json(a);
            if let (Some(sel), Value::Object(m)) = (&select, &mut u) {
                m.retain(|k, _| sel.iter().any(|s| s == k));
            }
            u
        })
        .collect();
    let context = match &select {
        Some(sel) => format!("{GRAPH_CONTEXT}#users({})", sel.join(",")),
        None => format!("{GRAPH_CONTEXT}#users"),
    };
    Ok(json!({"@odata.context": context, "value": value}))
}

/// `GET /v1.0/users/{id}`.
pub(crate) async fn get_user(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = apply_faults(&app, "Graph_GetUser", Surface::Graph, &conn).await {
        return r;
    }
    if let Err(e) = check_auth(&app, &headers) {
        return e.into_response();
    }
    match find_agent(&app, &id) {
        Some(a) => {
            let mut u = user_json(&a);
            u["@odata.context"] = json!(format!("{GRAPH_CONTEXT}#users/$entity"));
            Json(u).into_response()
        }
        None => not_found(&id).into_response(),
    }
}

/// `GET /v1.0/users/{id}/presence`.
pub(crate) async fn get_presence(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = apply_faults(&app, "Graph_GetPresence", Surface::Graph, &conn).await {
        return r;
    }
    if let Err(e) = check_auth(&app, &headers) {
        return e.into_response();
    }
    match find_agent(&app, &id) {
        Some(a) => {
            let mut p = presence_json(&a.spec.id, &a.availability, &a.activity);
            p["@odata.context"] = json!(format!(
                "{GRAPH_CONTEXT}#users('{}')/presence/$entity",
                a.spec.id
            ));
            Json(p).into_response()
        }
        None => not_found(&id).into_response(),
    }
}

/// `POST /v1.0/communications/getPresencesByUserId`.
pub(crate) async fn get_presences(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = apply_faults(&app, "Graph_GetPresencesByUserId", Surface::Graph, &conn).await {
        return r;
    }
    if let Err(e) = check_auth(&app, &headers) {
        return e.into_response();
    }
    let bad = |m: &str| GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", m).into_response();
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return bad("Unable to read JSON request payload.");
    };
    let Some(ids) = v.get("ids").and_then(Value::as_array) else {
        return bad("The request body must contain an 'ids' array.");
    };
    if ids.is_empty() {
        return bad("'ids' must contain at least one user id.");
    }
    if ids.len() > MAX_PRESENCE_IDS {
        return bad("The number of ids exceeds the limit of 650.");
    }
    let Some(ids) = ids.iter().map(Value::as_str).collect::<Option<Vec<&str>>>() else {
        return bad("Every entry of 'ids' must be a string.");
    };
    let value: Vec<Value> = ids
        .iter()
        .zip(app.engine.presences(&ids))
        .map(|(id, p)| match p {
            Some((availability, activity)) => presence_json(id, &availability, &activity),
            None => presence_json(id, "PresenceUnknown", "PresenceUnknown"),
        })
        .collect();
    Json(json!({
        "@odata.context": format!("{GRAPH_CONTEXT}#Collection(microsoft.graph.presence)"),
        "value": value,
    }))
    .into_response()
}

/// `GET /v1.0/users('{id | userPrincipalName}')`: the key-in-parentheses form Graph needs
/// for UPNs starting with `$`. Any other single segment under `/v1.0` is a Graph 404.
pub(crate) async fn get_user_by_key(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    Path(segment): Path<String>,
) -> Response {
    let key = segment
        .strip_prefix("users('")
        .and_then(|s| s.strip_suffix("')"))
        .map(|k| k.replace("''", "'"));
    let Some(key) = key else {
        return GraphError::new(
            StatusCode::NOT_FOUND,
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
        .into_response();
    };
    get_user(State(app), ConnectInfo(conn), headers, Path(key)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn search_parser_never_panics(s in "\\PC{0,60}") {
            let _ = parse_search(&s);
        }

        #[test]
        fn quoted_clauses_parse(p in "[a-zA-Z]{1,12}", t in "[a-zA-Z0-9 @.]{0,12}") {
            let (c, _) = parse_search(&format!("\"{p}:{t}\"")).unwrap();
            prop_assert_eq!(&c[0].property, &p);
            prop_assert_eq!(&c[0].term, &t.trim().to_lowercase());
        }
    }

    #[test]
    fn search_syntax() {
        let (c, j) = parse_search(r#""displayName:Adele""#).unwrap();
        assert_eq!(
            c,
            vec![Clause {
                property: "displayName".into(),
                term: "adele".into()
            }]
        );
        assert_eq!(j, Join::Or);
        let (c, j) = parse_search(r#""displayName:ad" OR "mail:bo""#).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(j, Join::Or);
        let (_, j) = parse_search(r#""displayName:ad" AND "mail:bo""#).unwrap();
        assert_eq!(j, Join::And);
        assert!(parse_search("displayName:ad").is_err());
        assert!(parse_search(r#""displayName:ad"#).is_err());
        assert!(parse_search(r#""displayName""#).is_err());
        assert!(parse_search(r#""a:b" XOR "c:d""#).is_err());
        assert!(parse_search(r#""a:b" OR "c:d" AND "e:f""#).is_err());
        let (c, _) = parse_search(r#""displayName:Pat \"PJ\" O'Neil""#).unwrap();
        assert_eq!(c[0].term, "pat \"pj\" o'neil");
    }

    #[test]
    fn tokenised_prefix() {
        assert!(matches("Adele Vance", "van"));
        assert!(matches("Adele Vance", "adele v"));
        assert!(matches("adelev@contoso.com", "contoso"));
        assert!(!matches("Adele Vance", "ance"));
    }
}
