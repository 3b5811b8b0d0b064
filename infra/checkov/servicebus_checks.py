"""Service Bus policies: Entra-only, TLS 1.2, and the queue semantics Switchboard relies on."""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult

from swb_common import (
    MISSING,
    get_path,
    is_literal_true,
    iso8601_duration_seconds,
)

NAMESPACES = ("Microsoft.ServiceBus/namespaces",)
QUEUES = ("Microsoft.ServiceBus/namespaces/queues",)


class ServiceBusLocalAuthDisabled(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Service Bus namespace disables local (SAS) authentication",
            id="CKV_SWB_1",
            categories=(CheckCategories.IAM,),
            supported_resources=NAMESPACES,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["properties/disableLocalAuth"]
        if is_literal_true(get_path(conf, "properties", "disableLocalAuth")):
            return CheckResult.PASSED
        return CheckResult.FAILED


class ServiceBusMinimumTls12(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Service Bus namespace requires TLS 1.2 or newer",
            id="CKV_SWB_2",
            categories=(CheckCategories.ENCRYPTION,),
            supported_resources=NAMESPACES,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["properties/minimumTlsVersion"]
        if get_path(conf, "properties", "minimumTlsVersion") in ("1.2", "1.3"):
            return CheckResult.PASSED
        return CheckResult.FAILED


class ServiceBusQueueDuplicateDetection(BaseResourceCheck):
    """Every producer (Event Grid, the ingress) sets MessageId from the event id and retries;
    duplicate detection with a window of at least the event TTL is what drops the retries."""

    def __init__(self) -> None:
        super().__init__(
            name="Service Bus queue has duplicate detection with a window of at least 1 minute",
            id="CKV_SWB_3",
            categories=(CheckCategories.GENERAL_SECURITY,),
            supported_resources=QUEUES,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = [
            "properties/requiresDuplicateDetection",
            "properties/duplicateDetectionHistoryTimeWindow",
        ]
        if not is_literal_true(get_path(conf, "properties", "requiresDuplicateDetection")):
            return CheckResult.FAILED
        window = iso8601_duration_seconds(
            get_path(conf, "properties", "duplicateDetectionHistoryTimeWindow")
        )
        if window is None or window < 60:
            return CheckResult.FAILED
        return CheckResult.PASSED


class ServiceBusQueueDeadLetters(BaseResourceCheck):
    """Expired or poison messages must end in the dead-letter queue (where `switchboard dlq`
    finds them), never vanish: dead-letter on expiry and a bounded delivery count (<= 10)."""

    def __init__(self) -> None:
        super().__init__(
            name="Service Bus queue dead-letters expired messages and bounds deliveries (<= 10)",
            id="CKV_SWB_4",
            categories=(CheckCategories.BACKUP_AND_RECOVERY,),
            supported_resources=QUEUES,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = [
            "properties/deadLetteringOnMessageExpiration",
            "properties/maxDeliveryCount",
        ]
        if not is_literal_true(get_path(conf, "properties", "deadLetteringOnMessageExpiration")):
            return CheckResult.FAILED
        count = get_path(conf, "properties", "maxDeliveryCount")
        if count is MISSING or isinstance(count, bool) or not isinstance(count, int):
            return CheckResult.FAILED
        if not 1 <= count <= 10:
            return CheckResult.FAILED
        return CheckResult.PASSED


ServiceBusLocalAuthDisabled()
ServiceBusMinimumTls12()
ServiceBusQueueDuplicateDetection()
ServiceBusQueueDeadLetters()
