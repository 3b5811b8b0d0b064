#!/usr/bin/env bash
# Grant the Microsoft Graph application permissions Switchboard's routing needs to a service
# principal -- normally the worker's managed identity (azd output WORKER_PRINCIPAL_ID):
#
#   Presence.Read.All   read the Teams presence of the agents (available / busy / away ...)
#   User.Read.All       resolve agents by UPN or mail to their Entra object ids
#
# Assigning an application permission (app role) of Microsoft Graph to a service principal IS the
# admin consent: managed identities have no consent prompt. Run it as a Privileged Role
# Administrator or Global Administrator of the agents' tenant (Graph needs
# AppRoleAssignment.ReadWrite.All and Application.Read.All for the signed-in admin).
#
# Usage:
#   grant-graph-permissions.sh --principal-id <object id> [--check] [--what-if]
#     --principal-id  object id of the service principal (managed identity or app registration)
#     --check         print which permissions are granted; change nothing (exit 1 if any missing)
#     --what-if       print what would be granted; change nothing
#   Re-running is safe: permissions already granted are left alone.
#
# Requires the Azure CLI (`az login` into the agents' tenant first).
set -euo pipefail

GRAPH_APP_ID="00000003-0000-0000-c000-000000000000"
GRAPH_URL="${SWITCHBOARD_GRAPH_API:-https://graph.microsoft.com/v1.0}"
PERMISSIONS=(Presence.Read.All User.Read.All)

usage() {
  sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
}

principal_id=""
mode="apply"
while [ $# -gt 0 ]; do
  case "$1" in
    --principal-id)
      [ $# -ge 2 ] || { echo "error: --principal-id needs a value" >&2; exit 2; }
      principal_id="$2"
      shift 2
      ;;
    --principal-id=*)
      principal_id="${1#*=}"
      shift
      ;;
    --check) mode="check"; shift ;;
    --what-if | --whatif) mode="what-if"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "error: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

if [ -z "$principal_id" ]; then
  echo "error: --principal-id is required (the worker identity: azd env get-value WORKER_PRINCIPAL_ID)" >&2
  exit 2
fi
if ! [[ "$principal_id" =~ ^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$ ]]; then
  echo "error: --principal-id must be an object id (GUID), got: $principal_id" >&2
  exit 2
fi
if ! command -v az >/dev/null 2>&1; then
  echo "error: the Azure CLI (az) is required" >&2
  exit 2
fi

# Microsoft Graph's service principal in this tenant, and the ids of the app roles we need.
graph_sp_id="$(az ad sp show --id "$GRAPH_APP_ID" --query id --output tsv)"
if [ -z "$graph_sp_id" ]; then
  echo "error: Microsoft Graph has no service principal in this tenant?" >&2
  exit 1
fi

role_id_of() {
  az ad sp show --id "$GRAPH_APP_ID" \
    --query "appRoles[?value=='$1' && contains(allowedMemberTypes, 'Application')].id | [0]" \
    --output tsv
}

# Roles already assigned to the principal (app role ids, one per line, Graph resource only).
assigned="$(az rest --method GET \
  --url "$GRAPH_URL/servicePrincipals/$principal_id/appRoleAssignments" \
  --query "value[?resourceId=='$graph_sp_id'].appRoleId" --output tsv)"

missing=0
for permission in "${PERMISSIONS[@]}"; do
  role_id="$(role_id_of "$permission")"
  if [ -z "$role_id" ]; then
    echo "error: Microsoft Graph has no application permission named $permission" >&2
    exit 1
  fi
  if grep -qix "$role_id" <<<"$assigned"; then
    echo "granted   $permission ($role_id)"
    continue
  fi
  case "$mode" in
    check)
      echo "MISSING   $permission ($role_id)"
      missing=$((missing + 1))
      ;;
    what-if)
      echo "would grant $permission ($role_id) to $principal_id"
      ;;
    apply)
      body="{\"principalId\":\"$principal_id\",\"resourceId\":\"$graph_sp_id\",\"appRoleId\":\"$role_id\"}"
      az rest --method POST \
        --url "$GRAPH_URL/servicePrincipals/$principal_id/appRoleAssignments" \
        --headers "Content-Type=application/json" \
        --body "$body" --output none
      echo "granted   $permission ($role_id) [new]"
      ;;
  esac
done

if [ "$mode" = "check" ] && [ "$missing" -gt 0 ]; then
  echo "$missing permission(s) missing; run without --check to grant them" >&2
  exit 1
fi
