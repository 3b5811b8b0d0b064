//! Which call state the events of a call belong to, when that is not the call's own
//! correlation id: a callback's placed calls (`super::outbound`) carry ACS's correlation id
//! of the new call, and are keyed to the callback's state through a stored alias.

use std::time::Duration;

use switchboard_events::CorrelationId;
use switchboard_store::{Store, StoreError};

/// How long a placed call's events are keyed to its callback (longer than any call).
pub(super) const ALIAS_TTL: Duration = Duration::from_secs(24 * 3600);

/// Member set naming the call state that owns the events of the call `correlation_id`.
pub(crate) fn alias_key(correlation_id: &str) -> String {
    format!("alias:{correlation_id}")
}

pub(super) const ALIAS_MEMBER: &str = "key";

/// The call state key the events of `correlation_id` belong to, if it is a placed call.
pub(crate) async fn resolve_alias(
    store: &dyn Store,
    correlation_id: &CorrelationId,
) -> Result<Option<CorrelationId>, StoreError> {
    let members = store
        .list_members(&alias_key(correlation_id.as_str()))
        .await?;
    Ok(members
        .into_iter()
        .find(|(m, _)| m == ALIAS_MEMBER)
        .and_then(|(_, v)| v.as_str().map(CorrelationId::from)))
}
