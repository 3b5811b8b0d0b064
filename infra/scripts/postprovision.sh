#!/bin/sh
# azd postprovision hook: print the steps that cannot be automated from a template.
# azd exports main.bicep's outputs as environment variables to hooks.
set -eu

cat <<MSG

Switchboard infrastructure is provisioned.

  Callback URL (Call Automation posts here):  ${CALLBACK_URL:-?}
  ACS endpoint:                               ${ACS_ENDPOINT:-?}
  ACS immutable resource id:                  ${ACS_IMMUTABLE_RESOURCE_ID:-?}
  Worker identity object id:                  ${WORKER_PRINCIPAL_ID:-?}

Next (once per tenant / number; see infra/README.md):
  1. Teams administrator, in PowerShell with the MicrosoftTeams module:
       ./infra/teams/enable-interop.ps1 -AcsImmutableResourceId ${ACS_IMMUTABLE_RESOURCE_ID:-<id>} -WhatIf
     then again without -WhatIf.
  2. Entra administrator, if Graph presence is enabled (GRAPH_TENANT_ID):
       ./infra/teams/grant-graph-permissions.sh --principal-id ${WORKER_PRINCIPAL_ID:-<id>}
  3. Buy or port a phone number on the ACS resource, then
       azd env set SERVED_TARGETS "+1425xxxxxxx" && azd provision
     and list it under [acs] numbers in infra/config/switchboard.toml.
MSG
