# azd postprovision hook (Windows): print the steps that cannot be automated from a template.
# azd exports main.bicep's outputs as environment variables to hooks.
$ErrorActionPreference = 'Stop'

$immutableId = if ($env:ACS_IMMUTABLE_RESOURCE_ID) { $env:ACS_IMMUTABLE_RESOURCE_ID } else { '<id>' }
$workerPrincipal = if ($env:WORKER_PRINCIPAL_ID) { $env:WORKER_PRINCIPAL_ID } else { '<id>' }

Write-Output @"

Switchboard infrastructure is provisioned.

  Callback URL (Call Automation posts here):  $($env:CALLBACK_URL)
  ACS endpoint:                               $($env:ACS_ENDPOINT)
  ACS immutable resource id:                  $immutableId
  Worker identity object id:                  $workerPrincipal

Next (once per tenant / number; see infra/README.md):
  1. Teams administrator, with the MicrosoftTeams module:
       ./infra/teams/enable-interop.ps1 -AcsImmutableResourceId $immutableId -WhatIf
     then again without -WhatIf.
  2. Entra administrator, if Graph presence is enabled (GRAPH_TENANT_ID):
       ./infra/teams/grant-graph-permissions.sh --principal-id $workerPrincipal
  3. Buy or port a phone number on the ACS resource, then
       azd env set SERVED_TARGETS "+1425xxxxxxx"; azd provision
     and list it under [acs] numbers in infra/config/switchboard.toml.
"@
