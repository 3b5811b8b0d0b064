//! switchboard-events: typed ACS events, identifiers and id newtypes.
//!
//! # Layout
//! - [`identifier`]: [`CommunicationIdentifier`] and its wire model.
//! - [`ids`]: string newtypes for call, correlation, operation and event ids.
#![forbid(unsafe_code)]

pub mod identifier;
pub mod ids;

pub use identifier::{
    normalize_e164, CommunicationCloud, CommunicationIdentifier, IdentifierError,
};
pub use ids::{
    CallConnectionId, CorrelationId, EventId, InvitationId, OperationContext, RecordingId,
    ServerCallId, TeamsUserId,
};
