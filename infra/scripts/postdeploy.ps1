# azd postdeploy hook (Windows): see postdeploy.sh for why.
$ErrorActionPreference = 'Stop'
$rg = $env:AZURE_RESOURCE_GROUP
if (-not $rg) { throw 'AZURE_RESOURCE_GROUP is not set (azd exports it from main.bicep)' }
$stale = @()
foreach ($app in @($env:WORKER_APP_NAME, $env:INGRESS_APP_NAME)) {
    $port = az containerapp show --resource-group $rg --name $app `
        --query 'properties.template.containers[0].probes[0].httpGet.port' --output tsv
    if ($LASTEXITCODE -ne 0) { throw "az containerapp show $app failed" }
    if ($port -eq '80') { $stale += $app }
}
if ($stale.Count -gt 0) {
    Write-Host "placeholder ports still set on: $($stale -join ', '); provisioning again"
    azd provision --no-prompt
    if ($LASTEXITCODE -ne 0) { throw 'azd provision failed' }
} else {
    Write-Host 'ports and probes match the deployed binary'
}
