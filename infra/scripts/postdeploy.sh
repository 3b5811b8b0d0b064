#!/bin/sh
# azd postdeploy hook: finish the first `azd up`.
#
# The first provision has no image yet, so both apps run a placeholder that serves HTTP on
# port 80, and apps.bicep points the ingress target port and the probes there. `azd deploy`
# then changes only the image, which leaves an app with the real binary (8080 / 9090) and the
# placeholder's ports. If a probe still targets port 80, provision once more: the template now
# reads the deployed image (workerExists / ingressExists) and moves ports and probes to the
# binary's listeners. Later deploys find the right ports and do nothing here.
set -eu

rg="${AZURE_RESOURCE_GROUP:?AZURE_RESOURCE_GROUP is not set (azd exports it from main.bicep)}"
stale=""
for app in "${WORKER_APP_NAME:?}" "${INGRESS_APP_NAME:?}"; do
  port=$(az containerapp show --resource-group "$rg" --name "$app" \
    --query "properties.template.containers[0].probes[0].httpGet.port" --output tsv)
  if [ "$port" = "80" ]; then
    stale="$stale $app"
  fi
done

if [ -n "$stale" ]; then
  echo "placeholder ports still set on:$stale; provisioning again to move them to the binary's"
  azd provision --no-prompt
else
  echo "ports and probes match the deployed binary"
fi
