//! switchboard-servicebus: the Switchboard queue port on Azure Service Bus (AMQP 1.0 through
//! `azservicebus`), and — behind the `test-peer` feature — an AMQP 1.0 peer that speaks the
//! Service Bus dialect so the adapter is tested without Azure.
#![forbid(unsafe_code)]

pub mod client;
pub mod convert;
mod error;
pub mod options;
#[cfg(feature = "test-peer")]
pub mod peer;

pub use client::ServiceBusNamespace;
pub use options::{Secret, ServiceBusAuth, ServiceBusOptions};
