//! Typed request and response models, one per spec definition the client uses.
//!
//! Field names follow the spec (serde `camelCase`); `Option`s and empty lists are left out of
//! the JSON, so every request body validates against the spec's `additionalProperties: false`
//! schemas (the crate's tests check that for every operation). Identifiers are
//! [`switchboard_events::CommunicationIdentifier`]; the few places where the spec wants one
//! specific identifier model (`source`, `sourceCallerIdNumber`, `teamsAppSource`) use the small
//! types in [`identifiers`]. String enums are extensible, as in the Azure SDKs: an unknown
//! value from a newer service becomes `Other(String)` instead of failing the whole response.

#[macro_use]
mod enums;
pub mod call;
pub mod identifiers;
pub mod media;
pub mod participants;
pub mod recording;
pub(crate) mod validate;

pub use call::*;
pub use enums::*;
pub use identifiers::*;
pub use media::*;
pub use participants::*;
pub use recording::*;
