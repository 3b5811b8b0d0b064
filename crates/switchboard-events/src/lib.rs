//! switchboard-events: the typed model of every ACS event Switchboard consumes, and the
//! decoder that turns one queue message body into those events.
//!
//! Data flows one way: a Service Bus (or embedded queue) message arrives with a body and
//! [`ServiceBusMetadata`]; [`decode()`] detects the envelope (Event Grid event, CloudEvent,
//! array of CloudEvents, or bare IncomingCall data), reads each event's `data` into an
//! [`AcsEvent`] variant and returns them as [`Event`]s (envelope + payload) in a
//! [`Decoded`]. The worker dispatches on [`AcsEvent`]; ids such as
//! [`CallConnectionId`] and [`CorrelationId`] are newtypes so they cannot be mixed up.
//!
//! ```
//! let body = br#"[{"id":"e1","source":"calling/callConnections/c1","type":"Microsoft.Communication.CallConnected",
//!   "data":{"callConnectionId":"c1","correlationId":"k1"},"time":"2025-06-16T19:25:59.7038152\u002B00:00","specversion":"1.0"}]"#;
//! let decoded = switchboard_events::decode(body).unwrap();
//! let event = &decoded.events[0];
//! assert_eq!(event.short_type(), "CallConnected");
//! assert_eq!(event.call_connection_id().unwrap(), "c1");
//! assert!(matches!(event.payload, switchboard_events::AcsEvent::CallConnected(_)));
//! ```
//!
//! Worker contract: [`decode()`] never panics. `Err(DecodeError)` means the body yielded no
//! event: dead-letter it with [`DecodeError::dead_letter_reason`] and the error text
//! (never retryable). `Ok(d)` with `d.errors` non-empty means a callback array had bad
//! elements: handle `d.events`, then dead-letter with [`Decoded::dead_letter`].
//! [`AcsEvent::Unknown`] events decoded fine but are of a type Switchboard does not act on.
//! [`Event::idempotency_key`] is the same for every delivery of an event (derived from the
//! event, never random): use it for "already handled?" checks.
//!
//! Producers (simulator, replay, tests) build events with the same types: the structs
//! implement `Default` + `Serialize`, [`Event::callback`] / [`Event::event_grid`] add the
//! envelope ACS or Event Grid would, and [`encode`] writes the body.
//!
//! # Layout
//! - [`identifier`]: [`CommunicationIdentifier`] (ACS user, phone, Teams user/app, Teams
//!   extension user, unknown), raw-id derivation and parsing, the wire model.
//! - [`ids`]: string newtypes ([`CallConnectionId`], [`ServerCallId`], [`CorrelationId`],
//!   [`TeamsUserId`], [`OperationContext`], [`InvitationId`], [`RecordingId`], [`EventId`]).
//! - [`result`]: [`ResultInformation`] and outcome helpers (timeout, declined, busy...).
//! - [`events`]: [`AcsEvent`] and one struct per event type (IncomingCall and every Call
//!   Automation callback).
//! - [`envelope`]: [`Schema`], [`Envelope`], [`Event`], and [`encode`] for producing
//!   bodies (simulator, replay).
//! - [`decode`](mod@decode): envelope detection and [`decode()`] itself, [`DecodeError`].
//! - [`timestamp`]: tolerant RFC 3339 parsing (5–7 fraction digits, offsets).
//! - [`servicebus`]: [`ServiceBusMetadata`] and Event Grid's `aeg-*` properties.
//! - [`fixture`]: replayable fixture messages ([`FixtureMessage`], [`load_fixture_dir`]).
//! - [`inspect`]: the one-line JSON/text summaries `switchboard events inspect` prints.
#![forbid(unsafe_code)]
// missing_docs flags public items reachable from outside the crate that have no doc comment;
// pub(crate) and private items are not checked.
#![warn(missing_docs)]

pub mod decode;
pub mod envelope;
pub mod events;
pub mod fixture;
pub mod identifier;
pub mod ids;
pub mod inspect;
pub mod result;
pub mod servicebus;
pub mod timestamp;

pub use decode::{decode, decode_value, DecodeError, Decoded, ElementError};
pub use envelope::{encode, EncodeError, Envelope, Event, Schema};
pub use events::*;
pub use fixture::{load_fixture, load_fixture_dir, Expect, FixtureError, FixtureMessage};
pub use identifier::{
    normalize_e164, CommunicationCloud, CommunicationIdentifier, IdentifierError,
};
pub use ids::{
    CallConnectionId, CorrelationId, EventId, InvitationId, OperationContext, RecordingId,
    ServerCallId, TeamsUserId,
};
pub use inspect::{identifier_json, inspect_json, inspect_text};
pub use result::{Outcome, ResultInformation, SipDiagnosticInfo};
pub use servicebus::{AegEventType, EventGridProperties, ServiceBusMetadata};
pub use timestamp::{format_timestamp, parse_timestamp};
