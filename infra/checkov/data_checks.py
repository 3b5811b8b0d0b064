"""Data-plane policies for the other resource types Switchboard deploys: Redis (TLS, Entra ID
only), Key Vault (RBAC), Communication Services and Storage (no keys)."""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult

from swb_common import MISSING, get_path, is_literal_false, is_literal_true

REDIS_ENTERPRISE = "Microsoft.Cache/redisEnterprise"
REDIS_ENTERPRISE_DB = "Microsoft.Cache/redisEnterprise/databases"
REDIS_CLASSIC = "Microsoft.Cache/redis"


class RedisTlsOnly(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Redis accepts only TLS 1.2+ connections",
            id="CKV_SWB_11",
            categories=(CheckCategories.ENCRYPTION,),
            supported_resources=(REDIS_ENTERPRISE, REDIS_ENTERPRISE_DB, REDIS_CLASSIC),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        properties = get_path(conf, "properties")
        if self.entity_type == REDIS_ENTERPRISE_DB:
            self.evaluated_keys = ["properties/clientProtocol"]
            # Default is Encrypted, but say so: the default has changed before.
            return CheckResult.PASSED if get_path(properties, "clientProtocol") == "Encrypted" else CheckResult.FAILED
        self.evaluated_keys = ["properties/minimumTlsVersion"]
        if get_path(properties, "minimumTlsVersion") not in ("1.2", "1.3"):
            return CheckResult.FAILED
        if self.entity_type == REDIS_CLASSIC:
            self.evaluated_keys.append("properties/enableNonSslPort")
            if get_path(properties, "enableNonSslPort") not in (MISSING, False):
                return CheckResult.FAILED
        return CheckResult.PASSED


class RedisEntraOnly(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Redis disables access keys (Entra ID authentication only)",
            id="CKV_SWB_12",
            categories=(CheckCategories.IAM,),
            supported_resources=(REDIS_ENTERPRISE_DB, REDIS_CLASSIC),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        properties = get_path(conf, "properties")
        if self.entity_type == REDIS_ENTERPRISE_DB:
            self.evaluated_keys = ["properties/accessKeysAuthentication"]
            if get_path(properties, "accessKeysAuthentication") == "Disabled":
                return CheckResult.PASSED
            return CheckResult.FAILED
        self.evaluated_keys = [
            "properties/disableAccessKeyAuthentication",
            "properties/redisConfiguration/aad-enabled",
        ]
        if not is_literal_true(get_path(properties, "disableAccessKeyAuthentication")):
            return CheckResult.FAILED
        aad = get_path(properties, "redisConfiguration", "aad-enabled")
        if aad not in ("true", "True", True):
            return CheckResult.FAILED
        return CheckResult.PASSED


class KeyVaultRbacAuthorization(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Key Vault uses Azure RBAC (per-secret role assignments), not access policies",
            id="CKV_SWB_13",
            categories=(CheckCategories.IAM,),
            supported_resources=("Microsoft.KeyVault/vaults",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["properties/enableRbacAuthorization"]
        if is_literal_true(get_path(conf, "properties", "enableRbacAuthorization")):
            return CheckResult.PASSED
        return CheckResult.FAILED


class CommunicationServicesLocalAuthDisabled(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Communication Services disables access keys (Call Automation uses Entra ID)",
            id="CKV_SWB_14",
            categories=(CheckCategories.IAM,),
            supported_resources=("Microsoft.Communication/communicationServices",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["properties/disableLocalAuth"]
        if is_literal_true(get_path(conf, "properties", "disableLocalAuth")):
            return CheckResult.PASSED
        return CheckResult.FAILED


class StorageSharedKeyDisabled(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Storage account disables shared key access (Entra ID only)",
            id="CKV_SWB_15",
            categories=(CheckCategories.IAM,),
            supported_resources=("Microsoft.Storage/storageAccounts",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["properties/allowSharedKeyAccess"]
        if is_literal_false(get_path(conf, "properties", "allowSharedKeyAccess")):
            return CheckResult.PASSED
        return CheckResult.FAILED


RedisTlsOnly()
RedisEntraOnly()
KeyVaultRbacAuthorization()
CommunicationServicesLocalAuthDisabled()
StorageSharedKeyDisabled()
