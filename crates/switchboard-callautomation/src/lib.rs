//! A Rust client for the Azure Communication Services **Call Automation** REST API
//! (api-version 2026-03-12): answer, create, redirect, reject, transfer and hang up calls; add,
//! remove, mute and list participants; play prompts, collect DTMF, hold; record.
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchboard_callautomation::Error> {
//! use switchboard_callautomation::{
//!     AddParticipantRequest, CallAutomationClient, ClientOptions, RequestOptions,
//! };
//! use switchboard_events::{CallConnectionId, CommunicationIdentifier};
//!
//! let client = CallAutomationClient::from_connection_string(
//!     "endpoint=https://contoso.communication.azure.com/;accesskey=c2VjcmV0",
//!     ClientOptions::default(),
//! )?;
//! let mut add = AddParticipantRequest::new(CommunicationIdentifier::teams_user("agent-oid"));
//! add.invitation_timeout_in_seconds = Some(30);
//! let invited = client
//!     .add_participant(&CallConnectionId::from("call-1"), &add, RequestOptions::default())
//!     .await?;
//! println!("{:?}", invited.invitation_id);
//! # Ok(()) }
//! ```
//!
//! Data flow of one call: typed request model → client-side checks (ranges, ids, URLs) →
//! JSON bytes → the pipeline, which fixes URL, body, client request id and repeatability
//! pair → per attempt: fresh `x-ms-date` and HMAC signature (or bearer token) → HTTP/1.1 →
//! status classified against the operation table of the embedded contract
//! ([`switchboard_contract::operations()`]) → typed response or [`Error`] (with
//! [`Error::is_retryable`] and [`Error::is_call_not_found`]) after the retries allowed by
//! [`RetryOptions`].
//!
//! # Layout
//! - [`auth`]: credentials: access key (HMAC), and Entra tokens ([`auth::TokenCredential`]:
//!   managed identity, client secret, static) with per-scope caching, re-exported from
//!   `switchboard_core::entra`, where other Azure clients get them too.
//! - [`connection_string`]: `endpoint=…;accesskey=…` parsing.
//! - [`models`]: request/response models, one per spec definition.
//! - [`options`]: [`ClientOptions`], [`RetryOptions`], [`RequestOptions`], [`Repeatability`].
//! - [`error`]: [`Error`], [`ErrorKind`], [`CommunicationError`].
//! - `pipeline` (private): signing, sending, retry with backoff and `Retry-After`.
//! - `client` (private): [`CallAutomationClient`], one method per operation.
#![forbid(unsafe_code)]
// missing_docs flags public items reachable from outside the crate that have no doc comment;
// pub(crate) and private items are not checked.
#![warn(missing_docs)]

pub mod auth;
mod client;
pub mod connection_string;
pub mod error;
pub mod models;
pub mod options;
mod pipeline;

/// Compiles the README's examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use auth::{AccessKey, AccessToken, Credential, Secret, TokenCredential, COMMUNICATION_SCOPE};
pub use client::CallAutomationClient;
pub use connection_string::ConnectionString;
pub use error::{CommunicationError, CommunicationErrorResponse, Error, ErrorKind};
pub use models::*;
pub use options::{ClientOptions, Repeatability, RequestOptions, RetryOptions};
