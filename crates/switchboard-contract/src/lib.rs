//! The ACS wire contract shared by the Call Automation client and the local simulator.
//!
//! The Call Automation OpenAPI document (api-version 2026-03-12) and the common identifier
//! document are embedded byte-for-byte (see `spec/README.md`). Everything else is derived from
//! them at run time: the client renders request paths and learns which operations take
//! repeatability headers from [`operations()`]; the simulator routes requests with
//! [`find_operation`] and checks bodies with [`validate`], as the real service would; tests
//! check every body the client builds against the same schemas.
//!
//! Data flow: embedded text → [`spec::spec`] (parsed once) → [`operations()`] table and the
//! [`schema`] validator, which resolves `$ref`s into both documents.
//!
//! # Layout
//! - [`hmac`]: the HMAC-SHA256 request signature ACS uses for access-key auth. The client signs
//!   with it and the simulator verifies with it, so both sides share one implementation.
//! - [`spec`](mod@spec): the embedded documents and examples, parsed once ([`API_VERSION`]).
//! - [`schema`]: a strict validator for the JSON-schema subset the document uses
//!   ([`validate`], [`validate_response`], [`ValidationError`]).
//! - [`operations`](mod@operations): the operation table built from the document ([`operation`],
//!   [`operations()`], [`find_operation`], [`Operation::render_path`]).
#![forbid(unsafe_code)]
// missing_docs flags public items reachable from outside the crate that have no doc comment;
// pub(crate) and private items are not checked.
#![warn(missing_docs)]

pub mod hmac;
pub mod operations;
pub mod schema;
pub mod spec;

pub use operations::{
    find_operation, operation, operations, BodyParameter, Operation, Paging, SuccessResponse,
    REPEATABILITY_FIRST_SENT, REPEATABILITY_REQUEST_ID,
};
pub use schema::{validate, validate_as, validate_response, Direction, ValidationError};
pub use spec::{spec, API_VERSION};
