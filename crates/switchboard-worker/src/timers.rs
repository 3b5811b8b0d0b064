//! Our own timers on the call-events queue: an internal input as a scheduled message to the
//! call's session, so it lands on whichever replica owns the call when it is due.

use switchboard_events::CorrelationId;
use switchboard_queue::OutgoingMessage;
use uuid::Uuid;

use crate::flow::InternalMessage;
use crate::seal::Seal;

/// Namespace of scheduled-timer message ids (UUID v5 of correlation id + input id).
const TIMER_NAMESPACE: Uuid = Uuid::from_u128(0x5b0e_2f7c_41d9_4a8e_b3c6_9d1a_7e52_0c84);

/// A queue message carrying an internal input to the call's session, sealed so the inbox
/// knows it is ours. The message id is derived from the input id, so sending it twice is
/// deduplicated where the queue does that (and the flow ignores a repeated input anyway).
pub(crate) fn timer_message(
    seal: &Seal,
    key: &CorrelationId,
    id: &str,
    msg: &InternalMessage,
) -> OutgoingMessage {
    let message_id = Uuid::new_v5(&TIMER_NAMESPACE, format!("{key}\n{id}").as_bytes()).to_string();
    seal.seal(
        OutgoingMessage::new(message_id, msg.encode())
            .with_session_id(key.as_str())
            .with_correlation_id(key.as_str())
            .with_content_type("application/json")
            .with_subject(msg.message_type.clone())
            .with_property("type", msg.message_type.clone()),
    )
}
