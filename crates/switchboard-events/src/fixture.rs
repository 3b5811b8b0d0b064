//! Replayable fixture messages (`tests/fixtures/messages/*.json`).
//!
//! A fixture is a whole queue message, not just a parser input: the body (byte-exact raw
//! text, held in a JSON string so escapes such as `\u002B` survive), the broker and
//! application properties it would arrive with, what the worker should do with it
//! ([`Expect`]) and where it came from. Replay puts fixtures on the queue; tests decode them
//! and compare with [`Expect::check`].
//!
//! File format (keys in camelCase; all but `body`, `expect` and `provenance` optional):
//!
//! ```json
//! {
//!   "name": "synthetic-addparticipantfailed-408",
//!   "provenance": "synthetic: ...",
//!   "messageId": "…", "sessionId": "…", "contentType": "application/json",
//!   "applicationProperties": {"aeg-event-type": "Notification"},
//!   "body": "[{\"id\":\"…\",\"time\":\"2025-06-16T19:26:05.1364933\\u002B00:00\", …}]",
//!   "expect": {"outcome": "ok", "types": ["AddParticipantFailed"]}
//! }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decode::{DecodeError, Decoded};
use crate::events::AcsEvent;
use crate::servicebus::ServiceBusMetadata;

/// One fixture message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureMessage {
    /// Unique name; equals the file stem (filled in from it when the file omits it).
    #[serde(default)]
    pub name: String,
    /// Service Bus message id to send with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Service Bus session id to send with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Content type to send with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Application properties (e.g. Event Grid's `aeg-*`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub application_properties: BTreeMap<String, Value>,
    /// The raw body text, byte for byte.
    pub body: String,
    /// What decoding (and so the worker) should make of it.
    pub expect: Expect,
    /// Where the body came from (repository, path, commit) or `synthetic: <why>`.
    pub provenance: String,
}

/// Expected outcome of decoding a fixture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "outcome",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Expect {
    /// Decodes completely into events of these short types, in order; at least one is
    /// typed (the worker acts on it).
    Ok {
        /// Short types (`CallConnected`), in body order.
        types: Vec<String>,
    },
    /// Decodes completely, but only into [`AcsEvent::Unknown`] events: the worker
    /// completes the message without acting.
    Ignored {
        /// The full event types, in body order.
        event_types: Vec<String>,
    },
    /// An array where some elements decode (these short types) and the elements at
    /// `invalid` do not: the worker handles the good ones, then dead-letters.
    Partial {
        /// Short types of the good events, in order.
        types: Vec<String>,
        /// Indexes of the bad elements.
        invalid: Vec<usize>,
    },
    /// Decoding fails; the worker dead-letters with this [`DecodeError::dead_letter_reason`].
    DeadLetter {
        /// The dead-letter reason.
        reason: String,
    },
}

impl Expect {
    /// Compares a decode result with this expectation; `Err` says how they differ.
    pub fn check(&self, got: &Result<Decoded, DecodeError>) -> Result<(), String> {
        let types = |d: &Decoded| -> Vec<String> {
            d.events.iter().map(|e| e.short_type().to_owned()).collect()
        };
        match (self, got) {
            (Self::DeadLetter { reason }, Err(e)) if e.dead_letter_reason() == reason => Ok(()),
            (Self::DeadLetter { reason }, Err(e)) => Err(format!(
                "expected dead-letter reason {reason}, got {} ({e})",
                e.dead_letter_reason()
            )),
            (_, Err(e)) => Err(format!(
                "expected events, got error {} ({e})",
                e.dead_letter_reason()
            )),
            (Self::DeadLetter { reason }, Ok(d)) => Err(format!(
                "expected dead-letter {reason}, got events {:?}",
                types(d)
            )),
            (Self::Ok { types: want }, Ok(d)) => {
                if d.is_partial() {
                    return Err(format!(
                        "expected full decode, got element errors: {:?}",
                        d.errors
                    ));
                }
                if d.events
                    .iter()
                    .all(|e| matches!(e.payload, AcsEvent::Unknown { .. }))
                {
                    return Err(
                        "expected typed events, got only Unknown (use `ignored`)".to_owned()
                    );
                }
                same(want, &types(d))
            }
            (Self::Ignored { event_types: want }, Ok(d)) => {
                if d.is_partial() {
                    return Err(format!(
                        "expected full decode, got element errors: {:?}",
                        d.errors
                    ));
                }
                if let Some(e) = d
                    .events
                    .iter()
                    .find(|e| !matches!(e.payload, AcsEvent::Unknown { .. }))
                {
                    return Err(format!(
                        "expected only Unknown events, got {}",
                        e.short_type()
                    ));
                }
                let got: Vec<String> = d
                    .events
                    .iter()
                    .map(|e| e.envelope.event_type.clone())
                    .collect();
                same(want, &got)
            }
            (
                Self::Partial {
                    types: want,
                    invalid,
                },
                Ok(d),
            ) => {
                same(want, &types(d))?;
                let got: Vec<usize> = d.errors.iter().filter_map(|e| e.index).collect();
                if &got == invalid {
                    Ok(())
                } else {
                    Err(format!(
                        "expected invalid elements {invalid:?}, got {got:?}"
                    ))
                }
            }
        }
    }
}

fn same(want: &[String], got: &[String]) -> Result<(), String> {
    if want == got {
        Ok(())
    } else {
        Err(format!("expected {want:?}, got {got:?}"))
    }
}

impl FixtureMessage {
    /// The body as bytes (what goes on the queue).
    pub fn body_bytes(&self) -> &[u8] {
        self.body.as_bytes()
    }

    /// The message properties as Service Bus metadata (for replay).
    pub fn metadata(&self) -> ServiceBusMetadata {
        ServiceBusMetadata {
            message_id: self.message_id.clone(),
            session_id: self.session_id.clone(),
            content_type: self.content_type.clone(),
            application_properties: self.application_properties.clone(),
            ..ServiceBusMetadata::default()
        }
    }

    /// Decodes the body and checks it against [`Self::expect`].
    pub fn verify(&self) -> Result<(), String> {
        self.expect
            .check(&crate::decode(self.body_bytes()))
            .map_err(|e| format!("fixture {}: {e}", self.name))
    }
}

/// Why fixtures could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// Reading a file or directory failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a fixture document.
    #[error("{path} is not a valid fixture: {source}")]
    Json {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// The document is well-formed but inconsistent.
    #[error("{path}: {reason}")]
    Invalid {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Loads one fixture file.
pub fn load_fixture(path: impl AsRef<Path>) -> Result<FixtureMessage, FixtureError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut fixture: FixtureMessage =
        serde_json::from_str(&text).map_err(|source| FixtureError::Json {
            path: path.to_owned(),
            source,
        })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    if fixture.name.is_empty() {
        fixture.name = stem;
    } else if fixture.name != stem {
        return Err(FixtureError::Invalid {
            path: path.to_owned(),
            reason: format!(
                "name {:?} differs from the file name {stem:?}",
                fixture.name
            ),
        });
    }
    if fixture.provenance.trim().is_empty() {
        return Err(FixtureError::Invalid {
            path: path.to_owned(),
            reason: "provenance is empty".to_owned(),
        });
    }
    Ok(fixture)
}

/// Loads every `*.json` fixture in `dir` (not recursive), sorted by name.
pub fn load_fixture_dir(dir: impl AsRef<Path>) -> Result<Vec<FixtureMessage>, FixtureError> {
    let dir = dir.as_ref();
    let io = |source| FixtureError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "json") {
            paths.push(path);
        }
    }
    paths.sort();
    let fixtures = paths
        .iter()
        .map(load_fixture)
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = BTreeSet::new();
    for f in &fixtures {
        if !seen.insert(f.name.as_str()) {
            return Err(FixtureError::Invalid {
                path: dir.to_owned(),
                reason: format!("duplicate fixture name {}", f.name),
            });
        }
    }
    Ok(fixtures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
        p
    }

    #[test]
    fn loads_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "b.json",
            &json!({
                "provenance": "synthetic: test",
                "body": "[{\"specversion\":\"1.0\",\"type\":\"Microsoft.Communication.CallConnected\",\"time\":\"2025-06-16T19:25:59.7038152\\u002B00:00\",\"data\":{}}]",
                "expect": {"outcome": "ok", "types": ["CallConnected"]}
            }),
        );
        write(
            dir.path(),
            "a.json",
            &json!({
                "name": "a",
                "provenance": "synthetic: test",
                "applicationProperties": {"aeg-event-type": "Notification"},
                "body": "",
                "expect": {"outcome": "deadLetter", "reason": "EmptyBody"}
            }),
        );
        std::fs::write(dir.path().join("README.md"), "not a fixture").unwrap();
        let all = load_fixture_dir(dir.path()).unwrap();
        assert_eq!(
            all.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        // The escape is kept as six characters in the body text.
        assert!(all[1].body.contains("\\u002B00:00"));
        for f in &all {
            f.verify().unwrap();
        }
        assert_eq!(
            all[0].metadata().aeg_event_type(),
            Some(crate::servicebus::AegEventType::Notification)
        );
    }

    #[test]
    fn check_reports_mismatches() {
        let ok = Expect::Ok {
            types: vec!["CallConnected".into()],
        };
        let got = crate::decode(b"");
        assert!(ok.check(&got).unwrap_err().contains("EmptyBody"));
        let dl = Expect::DeadLetter {
            reason: "NotJson".into(),
        };
        assert!(dl
            .check(&got)
            .unwrap_err()
            .contains("expected dead-letter reason NotJson"));
        let unknown = crate::decode(br#"{"eventType":"Other.Thing","data":{}}"#);
        assert!(ok.check(&unknown).unwrap_err().contains("only Unknown"));
        let ignored = Expect::Ignored {
            event_types: vec!["Other.Thing".into()],
        };
        ignored.check(&unknown).unwrap();
    }

    #[test]
    fn rejects_inconsistent_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "x.json",
            &json!({"name": "y", "provenance": "p", "body": "", "expect": {"outcome": "deadLetter", "reason": "EmptyBody"}}),
        );
        assert!(matches!(
            load_fixture(&p),
            Err(FixtureError::Invalid { .. })
        ));
        let p = write(
            dir.path(),
            "z.json",
            &json!({"provenance": "p", "body": "", "expect": {"outcome": "maybe"}}),
        );
        assert!(matches!(load_fixture(&p), Err(FixtureError::Json { .. })));
        let p = write(
            dir.path(),
            "w.json",
            &json!({"provenance": " ", "body": "", "expect": {"outcome": "deadLetter", "reason": "EmptyBody"}}),
        );
        assert!(matches!(
            load_fixture(&p),
            Err(FixtureError::Invalid { .. })
        ));
        assert!(matches!(
            load_fixture(dir.path().join("missing.json")),
            Err(FixtureError::Io { .. })
        ));
    }
}
