//! String newtypes for the ids that flow through ACS events and Call Automation calls.
//!
//! They exist so a `CallConnectionId` can never be passed where a `ServerCallId` is
//! expected: both are opaque strings on the wire and mixing them up is the classic bug in
//! Call Automation code (one addresses a call leg, the other the whole server-side call).
//! Each is `#[serde(transparent)]`, so it reads and writes as a plain JSON string.

use std::borrow::Borrow;
use std::fmt;

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps into the inner string.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_id!(
    /// Id of one call leg as seen by Call Automation (`callConnectionId`); addresses the
    /// `/calling/callConnections/{id}` REST resources.
    CallConnectionId
);
string_id!(
    /// Id of the server-side call (`serverCallId`), shared by every leg; used by recording.
    ServerCallId
);
string_id!(
    /// The call's correlation id (`correlationId`, the "call id" in ACS diagnostics). Stable
    /// for the whole call across IncomingCall and every callback.
    CorrelationId
);
string_id!(
    /// Entra ID object id (OID) of a Microsoft Teams user.
    TeamsUserId
);
string_id!(
    /// The `operationContext` string we set on a Call Automation request and get back on the
    /// events it causes.
    OperationContext
);
string_id!(
    /// Id of a pending add-participant invitation (`invitationId`), needed to cancel it.
    InvitationId
);
string_id!(
    /// Id of a call recording (`recordingId`).
    RecordingId
);
string_id!(
    /// Id of one event (Event Grid `id` / CloudEvents `id`).
    EventId
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn serde_is_transparent() {
        let id = CallConnectionId::from("401f3500-62bd");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"401f3500-62bd\"");
        let back: CallConnectionId = serde_json::from_str("\"401f3500-62bd\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(back, "401f3500-62bd");
    }

    #[test]
    fn display_as_ref_and_borrow_agree() {
        let id = CorrelationId::new("abc");
        assert_eq!(id.to_string(), "abc");
        assert_eq!(id.as_ref(), "abc");
        let mut map: HashMap<CorrelationId, u8> = HashMap::new();
        map.insert(id.clone(), 7);
        // Borrow<str> lets callers look up by &str without allocating.
        assert_eq!(map.get("abc"), Some(&7));
        assert_eq!(String::from(id), "abc");
    }

    #[test]
    fn ordering_is_by_string() {
        let mut v = vec![EventId::from("b"), EventId::from("a")];
        v.sort();
        assert_eq!(v, vec![EventId::from("a"), EventId::from("b")]);
    }
}
