"""Event Grid policies: deliver and dead-letter with a managed identity, and map the Service Bus
MessageId (never SessionId) so duplicate detection works."""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult

from swb_common import MISSING, get_path, non_empty

SUBSCRIPTIONS = (
    "Microsoft.EventGrid/eventSubscriptions",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions",
    "Microsoft.EventGrid/topics/eventSubscriptions",
    "Microsoft.EventGrid/domains/eventSubscriptions",
    "Microsoft.EventGrid/domains/topics/eventSubscriptions",
    "Microsoft.EventGrid/partnerTopics/eventSubscriptions",
)

# Destinations that accept Entra-authenticated delivery. A webhook is authenticated differently
# (Entra app on the receiving side) and is not judged by these policies.
IDENTITY_CAPABLE = {
    "ServiceBusQueue",
    "ServiceBusTopic",
    "StorageQueue",
    "EventHub",
    "HybridConnection",
}

SERVICE_BUS = {"ServiceBusQueue", "ServiceBusTopic"}


def _destination(conf: dict[str, Any]) -> tuple[str, Any]:
    """('identity' | 'plain' | 'none', destination dict)."""
    with_identity = get_path(conf, "properties", "deliveryWithResourceIdentity")
    if with_identity is not MISSING:
        return "identity", get_path(with_identity, "destination")
    plain = get_path(conf, "properties", "destination")
    if plain is not MISSING:
        return "plain", plain
    return "none", MISSING


class EventGridDeliveryWithManagedIdentity(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Event Grid delivers to Azure resources and dead-letters with a managed identity, not keys",
            id="CKV_SWB_5",
            categories=(CheckCategories.IAM,),
            supported_resources=SUBSCRIPTIONS,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = [
            "properties/deliveryWithResourceIdentity",
            "properties/destination",
            "properties/deadLetterDestination",
            "properties/deadLetterWithResourceIdentity",
        ]
        kind, destination = _destination(conf)
        endpoint_type = get_path(destination, "endpointType")
        if kind == "none":
            return CheckResult.FAILED
        if kind == "plain":
            # A webhook cannot use a resource identity; anything else must.
            if endpoint_type in IDENTITY_CAPABLE or not isinstance(endpoint_type, str):
                return CheckResult.FAILED
        else:
            identity_type = get_path(
                conf, "properties", "deliveryWithResourceIdentity", "identity", "type"
            )
            if identity_type not in ("SystemAssigned", "UserAssigned"):
                return CheckResult.FAILED
        # Dead letters: only through deadLetterWithResourceIdentity.
        if get_path(conf, "properties", "deadLetterDestination") is not MISSING:
            return CheckResult.FAILED
        dead_letter = get_path(conf, "properties", "deadLetterWithResourceIdentity")
        if dead_letter is not MISSING:
            if get_path(dead_letter, "identity", "type") not in ("SystemAssigned", "UserAssigned"):
                return CheckResult.FAILED
            if not non_empty(get_path(dead_letter, "deadLetterDestination", "endpointType")):
                return CheckResult.FAILED
        return CheckResult.PASSED


class EventGridServiceBusMessageId(BaseResourceCheck):
    """Event Grid sets either MessageId or SessionId on a Service Bus message, never both. We map
    MessageId from the event id (duplicate detection) and therefore never SessionId."""

    def __init__(self) -> None:
        super().__init__(
            name="Event Grid to Service Bus maps MessageId (dynamic, from the event) and not SessionId",
            id="CKV_SWB_6",
            categories=(CheckCategories.GENERAL_SECURITY,),
            supported_resources=SUBSCRIPTIONS,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        _, destination = _destination(conf)
        endpoint_type = get_path(destination, "endpointType")
        if endpoint_type not in SERVICE_BUS:
            return CheckResult.UNKNOWN
        self.evaluated_keys = ["properties/deliveryWithResourceIdentity/destination/properties/deliveryAttributeMappings"]
        mappings = get_path(destination, "properties", "deliveryAttributeMappings")
        if not isinstance(mappings, list):
            return CheckResult.FAILED
        names = {}
        for mapping in mappings:
            name = get_path(mapping, "name")
            if isinstance(name, str):
                names[name.lower()] = mapping
        if "sessionid" in names:
            return CheckResult.FAILED
        message_id = names.get("messageid")
        if message_id is None:
            return CheckResult.FAILED
        if get_path(message_id, "type") != "Dynamic":
            return CheckResult.FAILED
        if not non_empty(get_path(message_id, "properties", "sourceField")):
            return CheckResult.FAILED
        return CheckResult.PASSED


EventGridDeliveryWithManagedIdentity()
EventGridServiceBusMessageId()
