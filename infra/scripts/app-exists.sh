#!/bin/sh
# Prints true if the azd service's container app exists in the resource group, else false.
# Computed from Azure (the app carries the tag azd-service-name=<service>), not taken from
# azd's SERVICE_<NAME>_RESOURCE_EXISTS, which some azd versions report wrongly.
#   infra/scripts/app-exists.sh <resource group> <service: worker|ingress>
set -eu
rg="${1:?resource group}"
service="${2:?service name}"
if [ "$(az group exists --name "$rg")" != "true" ]; then
  echo false
  exit 0
fi
id=$(az resource list --resource-group "$rg" \
  --resource-type Microsoft.App/containerApps \
  --tag "azd-service-name=$service" \
  --query "[0].id" --output tsv)
if [ -n "$id" ]; then echo true; else echo false; fi
