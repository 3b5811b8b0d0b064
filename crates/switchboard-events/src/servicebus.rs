//! Service Bus message metadata that matters to the worker.
//!
//! The body is decoded by [`crate::decode()`]; this is the rest of a received message:
//! broker properties (message id, session id, delivery count, enqueued time...) and the
//! application properties, including the `aeg-*` ones Event Grid adds when it delivers
//! to a queue (MicrosoftDocs `event-grid/includes/message-headers.md`):
//!
//! | property | meaning |
//! |---|---|
//! | `aeg-event-type` | `Notification` for events (always, on Service Bus); `SubscriptionValidation`, `SubscriptionDeletion` otherwise |
//! | `aeg-delivery-count` | Event Grid's attempts so far (its own retries, not Service Bus's) |
//! | `aeg-subscription-name` | the Event Grid subscription (upper-case) |
//! | `aeg-data-version` | `dataVersion` (Event Grid schema only) |
//! | `aeg-metadata-version` | `metadataVersion`, or the CloudEvents spec version |
//! | `aeg-output-event-id` | the event's id |
//!
//! Event Grid sets the Service Bus message id to an internal id that stays the same across
//! its redeliveries (so broker duplicate detection works); the event id itself is in
//! `aeg-output-event-id`. Event Grid could deliver to a session-enabled queue (with a
//! SessionId delivery property); the IncomingCall queue is a plain queue by choice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::ids::EventId;

/// `aeg-event-type`.
pub const AEG_EVENT_TYPE: &str = "aeg-event-type";
/// `aeg-delivery-count`.
pub const AEG_DELIVERY_COUNT: &str = "aeg-delivery-count";
/// `aeg-subscription-name`.
pub const AEG_SUBSCRIPTION_NAME: &str = "aeg-subscription-name";
/// `aeg-data-version`.
pub const AEG_DATA_VERSION: &str = "aeg-data-version";
/// `aeg-metadata-version`.
pub const AEG_METADATA_VERSION: &str = "aeg-metadata-version";
/// `aeg-output-event-id`.
pub const AEG_OUTPUT_EVENT_ID: &str = "aeg-output-event-id";

/// Broker and application properties of one received (or to-be-sent) message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceBusMetadata {
    /// `MessageId` (duplicate-detection key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// `SessionId` (Switchboard's ingress uses the call's correlation id so one call's
    /// callbacks are handled in order by one worker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `CorrelationId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// `DeliveryCount`: 1 on first delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_count: Option<u32>,
    /// `EnqueuedTimeUtc`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub enqueued_time: Option<OffsetDateTime>,
    /// `SequenceNumber`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<i64>,
    /// `ContentType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Subject` (formerly `Label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Application properties (string, number or boolean values on the wire).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub application_properties: BTreeMap<String, Value>,
}

/// What Event Grid says the message is (`aeg-event-type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AegEventType {
    /// An event. The only value seen on Service Bus.
    Notification,
    /// Webhook handshake (never on Service Bus).
    SubscriptionValidation,
    /// The subscription was deleted.
    SubscriptionDeletion,
    /// Anything else, verbatim.
    Other(String),
}

impl AegEventType {
    fn parse(s: &str) -> Self {
        if s.eq_ignore_ascii_case("Notification") {
            Self::Notification
        } else if s.eq_ignore_ascii_case("SubscriptionValidation") {
            Self::SubscriptionValidation
        } else if s.eq_ignore_ascii_case("SubscriptionDeletion") {
            Self::SubscriptionDeletion
        } else {
            Self::Other(s.to_owned())
        }
    }
}

/// The `aeg-*` properties, typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventGridProperties {
    /// `aeg-event-type`.
    pub event_type: Option<AegEventType>,
    /// `aeg-delivery-count`.
    pub delivery_count: Option<u32>,
    /// `aeg-subscription-name`.
    pub subscription_name: Option<String>,
    /// `aeg-data-version`.
    pub data_version: Option<String>,
    /// `aeg-metadata-version`.
    pub metadata_version: Option<String>,
    /// `aeg-output-event-id`.
    pub output_event_id: Option<EventId>,
}

impl ServiceBusMetadata {
    /// Application property as a string: strings as is, numbers and booleans as text.
    pub fn property_str(&self, name: &str) -> Option<String> {
        match self.application_properties.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Application property as an unsigned count (number, or a string of digits).
    pub fn property_u32(&self, name: &str) -> Option<u32> {
        match self.application_properties.get(name)? {
            Value::Number(n) => n.as_u64().and_then(|v| u32::try_from(v).ok()),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// `aeg-event-type`.
    pub fn aeg_event_type(&self) -> Option<AegEventType> {
        self.property_str(AEG_EVENT_TYPE)
            .map(|s| AegEventType::parse(&s))
    }

    /// `aeg-delivery-count`.
    pub fn aeg_delivery_count(&self) -> Option<u32> {
        self.property_u32(AEG_DELIVERY_COUNT)
    }

    /// `aeg-subscription-name`.
    pub fn aeg_subscription_name(&self) -> Option<String> {
        self.property_str(AEG_SUBSCRIPTION_NAME)
    }

    /// `aeg-data-version`.
    pub fn aeg_data_version(&self) -> Option<String> {
        self.property_str(AEG_DATA_VERSION)
    }

    /// `aeg-metadata-version`.
    pub fn aeg_metadata_version(&self) -> Option<String> {
        self.property_str(AEG_METADATA_VERSION)
    }

    /// `aeg-output-event-id`: the Event Grid event id.
    pub fn aeg_output_event_id(&self) -> Option<EventId> {
        self.property_str(AEG_OUTPUT_EVENT_ID).map(EventId::from)
    }

    /// True if Event Grid delivered this message (any `aeg-*` property present).
    pub fn is_from_event_grid(&self) -> bool {
        self.application_properties
            .keys()
            .any(|k| k.starts_with("aeg-"))
    }

    /// All `aeg-*` properties at once.
    pub fn event_grid(&self) -> EventGridProperties {
        EventGridProperties {
            event_type: self.aeg_event_type(),
            delivery_count: self.aeg_delivery_count(),
            subscription_name: self.aeg_subscription_name(),
            data_version: self.aeg_data_version(),
            metadata_version: self.aeg_metadata_version(),
            output_event_id: self.aeg_output_event_id(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_props(props: Value) -> ServiceBusMetadata {
        serde_json::from_value(json!({ "applicationProperties": props })).unwrap()
    }

    #[test]
    fn typed_aeg_properties() {
        let m = with_props(json!({
            "aeg-event-type": "Notification",
            "aeg-delivery-count": "2",
            "aeg-subscription-name": "SWITCHBOARD-INCOMING",
            "aeg-data-version": "1.0",
            "aeg-metadata-version": "1",
            "aeg-output-event-id": "e80026e7-e298-46ba-bc42-dab0eda92581",
            "Diagnostic-Id": "00-abc-def-01"
        }));
        assert!(m.is_from_event_grid());
        assert_eq!(
            m.event_grid(),
            EventGridProperties {
                event_type: Some(AegEventType::Notification),
                delivery_count: Some(2),
                subscription_name: Some("SWITCHBOARD-INCOMING".into()),
                data_version: Some("1.0".into()),
                metadata_version: Some("1".into()),
                output_event_id: Some("e80026e7-e298-46ba-bc42-dab0eda92581".into()),
            }
        );
    }

    #[test]
    fn numbers_and_odd_values() {
        let m = with_props(json!({
            "aeg-delivery-count": 0,
            "aeg-metadata-version": 1,
            "aeg-event-type": "subscriptionvalidation",
            "aeg-data-version": {"nested": true},
            "aeg-subscription-name": null
        }));
        assert_eq!(m.aeg_delivery_count(), Some(0));
        assert_eq!(m.aeg_metadata_version().as_deref(), Some("1"));
        assert_eq!(
            m.aeg_event_type(),
            Some(AegEventType::SubscriptionValidation)
        );
        assert_eq!(m.aeg_data_version(), None);
        assert_eq!(m.aeg_subscription_name(), None);
        let m = with_props(json!({"aeg-delivery-count": -1, "aeg-event-type": "Other"}));
        assert_eq!(m.aeg_delivery_count(), None);
        assert_eq!(
            m.aeg_event_type(),
            Some(AegEventType::Other("Other".into()))
        );
        assert!(!ServiceBusMetadata::default().is_from_event_grid());
    }

    #[test]
    fn broker_properties_round_trip() {
        let m = ServiceBusMetadata {
            message_id: Some("m1".into()),
            session_id: Some("corr-1".into()),
            correlation_id: Some("corr-1".into()),
            delivery_count: Some(3),
            enqueued_time: Some(time::macros::datetime!(2025-06-16 19:25:59.7038152 UTC)),
            sequence_number: Some(42),
            content_type: Some("application/json".into()),
            subject: None,
            application_properties: BTreeMap::from([("k".to_owned(), json!("v"))]),
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["enqueuedTime"], "2025-06-16T19:25:59.7038152Z");
        assert_eq!(v["deliveryCount"], 3);
        let back: ServiceBusMetadata = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }
}
