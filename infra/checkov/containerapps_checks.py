"""Container Apps policies: no secret in a template, identity-based KEDA scaling and registry
pulls, HTTPS-only ingress. Apply to container apps and container app jobs."""

from __future__ import annotations

import re
from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult

from swb_common import MISSING, get_path, non_empty

APPS = ("Microsoft.App/containerApps",)
APPS_AND_JOBS = ("Microsoft.App/containerApps", "Microsoft.App/jobs")

# Environment variable names whose value is a credential and therefore must come from a secret.
SECRET_NAME = re.compile(
    r"(CONNECTION_?STRING|PASSWORD|PASSWD|SECRET|ACCESS_?KEY|API_?KEY|PRIVATE_?KEY|_KEY$|TOKEN|SAS|CREDENTIAL)",
    re.IGNORECASE,
)

# KEDA scalers for Azure services, which support managed identity instead of connection strings.
AZURE_SCALER = re.compile(r"^azure-", re.IGNORECASE)


def _containers(conf: dict[str, Any]) -> list[Any] | None:
    """Containers and init containers; None if the list is not a literal."""
    result: list[Any] = []
    for key in ("containers", "initContainers"):
        items = get_path(conf, "properties", "template", key)
        if items is MISSING:
            continue
        if not isinstance(items, list):
            return None
        result.extend(items)
    return result


def _scale_rules(conf: dict[str, Any]) -> list[Any] | None:
    """Scale rules of an app (template.scale) or an event-driven job; None if not a literal list."""
    rules = get_path(conf, "properties", "template", "scale", "rules")
    if rules is MISSING:
        rules = get_path(conf, "properties", "configuration", "eventTriggerConfig", "scale", "rules")
    if rules is MISSING:
        return []
    if not isinstance(rules, list):
        return None
    return rules


class ContainerAppSecretsFromKeyVault(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Container app secrets are Key Vault references read with a managed identity; credentials in env use secretRef",
            id="CKV_SWB_7",
            categories=(CheckCategories.SECRETS,),
            supported_resources=APPS_AND_JOBS,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["properties/configuration/secrets", "properties/template/containers"]
        secrets = get_path(conf, "properties", "configuration", "secrets")
        if secrets is not MISSING:
            if not isinstance(secrets, list):
                return CheckResult.FAILED
            for secret in secrets:
                if get_path(secret, "value") is not MISSING:
                    return CheckResult.FAILED
                if not non_empty(get_path(secret, "keyVaultUrl")):
                    return CheckResult.FAILED
                if not non_empty(get_path(secret, "identity")):
                    return CheckResult.FAILED
        containers = _containers(conf)
        if containers is None:
            return CheckResult.FAILED
        for container in containers:
            env = get_path(container, "env")
            if env is MISSING:
                continue
            if not isinstance(env, list):
                return CheckResult.FAILED
            for variable in env:
                name = get_path(variable, "name")
                if not isinstance(name, str):
                    return CheckResult.FAILED
                if SECRET_NAME.search(name) and get_path(variable, "value") is not MISSING:
                    return CheckResult.FAILED
        return CheckResult.PASSED


class ContainerAppKedaManagedIdentity(BaseResourceCheck):
    """KEDA rules for Azure services authenticate with a managed identity, never with a
    connection string secret (which would force local auth on the target)."""

    def __init__(self) -> None:
        super().__init__(
            name="KEDA scale rules for Azure services authenticate with a managed identity, not secrets",
            id="CKV_SWB_8",
            categories=(CheckCategories.IAM,),
            supported_resources=APPS_AND_JOBS,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["properties/template/scale/rules"]
        rules = _scale_rules(conf)
        if rules is None:
            return CheckResult.FAILED
        for rule in rules:
            # Job rules are flat ({name, type, metadata, auth, identity}); app rules nest the
            # scaler under custom / azureQueue / http / tcp.
            candidates = []
            if get_path(rule, "type") is not MISSING:
                candidates.append(rule)
            custom = get_path(rule, "custom")
            if custom is not MISSING:
                candidates.append(custom)
            azure_queue = get_path(rule, "azureQueue")
            if azure_queue is not MISSING:
                candidates.append({**azure_queue, "type": "azure-queue"})
            for scaler in candidates:
                scaler_type = get_path(scaler, "type")
                if not isinstance(scaler_type, str) or not AZURE_SCALER.search(scaler_type):
                    continue
                if get_path(scaler, "auth") not in (MISSING, []):
                    return CheckResult.FAILED
                if not non_empty(get_path(scaler, "identity")):
                    return CheckResult.FAILED
        return CheckResult.PASSED


class ContainerAppRegistryManagedIdentity(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Container apps pull images with a managed identity, not a registry password",
            id="CKV_SWB_9",
            categories=(CheckCategories.IAM,),
            supported_resources=APPS_AND_JOBS,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["properties/configuration/registries"]
        registries = get_path(conf, "properties", "configuration", "registries")
        if registries is MISSING:
            return CheckResult.PASSED
        if not isinstance(registries, list):
            return CheckResult.FAILED
        for registry in registries:
            if non_empty(get_path(registry, "passwordSecretRef")):
                return CheckResult.FAILED
            if not non_empty(get_path(registry, "identity")):
                return CheckResult.FAILED
        return CheckResult.PASSED


class ContainerAppIngressHttpsOnly(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Container app ingress does not allow plain HTTP",
            id="CKV_SWB_10",
            categories=(CheckCategories.ENCRYPTION,),
            supported_resources=APPS,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["properties/configuration/ingress/allowInsecure"]
        ingress = get_path(conf, "properties", "configuration", "ingress")
        if ingress is MISSING:
            return CheckResult.PASSED
        allow_insecure = get_path(ingress, "allowInsecure")
        if allow_insecure is MISSING or allow_insecure is False:
            return CheckResult.PASSED
        # True, or a value that cannot be proven false.
        return CheckResult.FAILED


ContainerAppSecretsFromKeyVault()
ContainerAppKedaManagedIdentity()
ContainerAppRegistryManagedIdentity()
ContainerAppIngressHttpsOnly()
