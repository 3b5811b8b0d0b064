//! The embedded OpenAPI documents and their examples, parsed once on first use.
//!
//! The raw text is compiled into the crate (`include_str!`), so nothing here touches the file
//! system at run time. [`spec`] parses both documents on first use and keeps them for the life
//! of the process; the validator and the operation table read from that one copy.

use std::sync::OnceLock;

use serde_json::Value;

/// The Call Automation API version the embedded document describes (its `info.version`).
pub const API_VERSION: &str = "2026-03-12";

/// Raw text of the Call Automation document, byte-identical to upstream.
pub const CALL_AUTOMATION_JSON: &str =
    include_str!("../spec/callautomation/2026-03-12/communicationservicescallautomation.json");

/// Raw text of the common document (identifiers, errors), byte-identical to upstream.
pub const COMMON_JSON: &str = include_str!("../spec/common/2025-06-30/common.json");

/// The `$ref` file part the Call Automation document uses for the common document.
pub(crate) const COMMON_REF: &str = "../../../Common/stable/2025-06-30/common.json";

macro_rules! examples {
    ($($name:literal),* $(,)?) => {
        /// Every embedded example file: (file name without `.json`, raw text).
        pub const EXAMPLE_FILES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../spec/callautomation/2026-03-12/examples/", $name, ".json")))),*
        ];
    };
}

examples!(
    "AnswerCall",
    "CallConnection_AddParticipant",
    "CallConnection_CancelAddParticipant",
    "CallConnection_GetCall",
    "CallConnection_GetParticipant",
    "CallConnection_GetParticipants",
    "CallConnection_HangupCall",
    "CallConnection_MoveParticipants",
    "CallConnection_RemoveParticipant",
    "CallConnection_TransferToParticipant",
    "CallMedia_Play",
    "CallMedia_SummarizeCall",
    "CallRecording_StartRecording",
    "CreateCall",
    "RedirectCall",
    "RejectCall",
);

/// Which embedded document a schema lives in; `$ref`s are resolved relative to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Doc {
    CallAutomation,
    Common,
}

/// Both documents and the examples, parsed.
pub struct Spec {
    call_automation: Value,
    common: Value,
    examples: Vec<(&'static str, Value)>,
}

impl Spec {
    /// The parsed Call Automation document.
    pub fn call_automation(&self) -> &Value {
        &self.call_automation
    }

    /// The parsed common document.
    pub fn common(&self) -> &Value {
        &self.common
    }

    /// Every embedded example as (file name without `.json`, parsed JSON).
    pub fn examples(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.examples.iter().map(|(n, v)| (*n, v))
    }

    /// One example by file name without `.json` (e.g. `"CreateCall"`).
    pub fn example(&self, name: &str) -> Option<&Value> {
        self.examples
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    pub(crate) fn doc(&self, doc: Doc) -> &Value {
        match doc {
            Doc::CallAutomation => &self.call_automation,
            Doc::Common => &self.common,
        }
    }
}

/// The parsed documents. The first call parses (a few milliseconds); later calls are free.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec {
        call_automation: parse_embedded("Call Automation document", CALL_AUTOMATION_JSON),
        common: parse_embedded("common document", COMMON_JSON),
        examples: EXAMPLE_FILES
            .iter()
            .map(|(name, text)| (*name, parse_embedded(name, text)))
            .collect(),
    })
}

/// The embedded texts are compile-time constants covered by this crate's tests, so a parse
/// failure is a build defect, not bad input: failing loudly at first use is the right outcome.
fn parse_embedded(what: &str, text: &str) -> Value {
    match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => panic!("embedded {what} is not valid JSON: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn sha256_hex(text: &str) -> String {
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn embedded_documents_are_byte_identical_to_upstream() {
        assert_eq!(
            sha256_hex(CALL_AUTOMATION_JSON),
            "623c361401e5ef5f4f75962ea1e9fbaa6da59cb2b5e87181f470390bc088a720"
        );
        assert_eq!(
            sha256_hex(COMMON_JSON),
            "9b63ed33cef476758eac44a3bccde4e99bb107a3178c23ccfd8749f2938b8ff2"
        );
    }

    #[test]
    fn documents_and_examples_parse() {
        let s = spec();
        assert_eq!(s.call_automation()["info"]["version"], API_VERSION);
        assert_eq!(s.common()["swagger"], "2.0");
        assert_eq!(s.examples().count(), EXAMPLE_FILES.len());
        assert!(s.example("CreateCall").is_some());
        assert!(s.example("Nope").is_none());
    }
}
