<#
.SYNOPSIS
    Allow Switchboard's Azure Communication Services resource to call the tenant's Teams users.

.DESCRIPTION
    The Microsoft Teams administrator step of the Switchboard deployment (infra/README.md):

      1. Set-CsTeamsAcsFederationConfiguration -EnableAcsUsers $true -AllowedAcsResources @(...)
         allows the ACS resource (by its immutable resource id) to reach Teams users. Resources
         already on the allow list stay there unless -ReplaceAllowedResources is given.
      2. Set-CsExternalAccessPolicy ... -EnableAcsFederationAccess $true on the Global policy, or
         on a custom policy (created if missing) that is granted only to the agents (-Agents).

    Idempotent: settings that are already right are left alone, so re-running is safe.
    -WhatIf shows every change without making it. -Check prints the current settings, changes
    nothing, and exits 1 when the resource is not (yet) allowed.
    Policy changes can take several hours to reach every Teams client.

    Requires the MicrosoftTeams PowerShell module (Install-Module MicrosoftTeams) and the Teams
    Administrator role. The ACS immutable resource id is the azd output ACS_IMMUTABLE_RESOURCE_ID
    (`azd env get-value ACS_IMMUTABLE_RESOURCE_ID`), also shown on the ACS resource's overview.

.PARAMETER AcsImmutableResourceId
    Immutable resource id (a GUID) of the Communication Services resource.

.PARAMETER PolicyName
    External access policy to enable ACS federation on: 'Global' (default: every user) or the
    name of a custom policy granted only to the agents listed in -Agents.

.PARAMETER Agents
    User principal names of the Teams agents to grant the custom policy to. Ignored for Global.

.PARAMETER ReplaceAllowedResources
    Make the ACS allow list exactly this one resource instead of adding it to the list.

.PARAMETER Check
    Only print the current settings; exit code 0 if they allow the resource, 1 otherwise.

.PARAMETER SkipConnect
    Do not call Connect-MicrosoftTeams (an existing session is used).

.EXAMPLE
    ./enable-interop.ps1 -AcsImmutableResourceId 3f0a9c0e-1c1b-4c5e-9a57-5b4a2e1d7c11 -WhatIf

.EXAMPLE
    ./enable-interop.ps1 -AcsImmutableResourceId 3f0a9c0e-1c1b-4c5e-9a57-5b4a2e1d7c11 `
        -PolicyName SwitchboardAgents -Agents alice@contoso.com, bob@contoso.com

.EXAMPLE
    ./enable-interop.ps1 -AcsImmutableResourceId 3f0a9c0e-1c1b-4c5e-9a57-5b4a2e1d7c11 -Check
#>
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
param(
    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
    [string] $AcsImmutableResourceId,

    [ValidateNotNullOrEmpty()]
    [string] $PolicyName = 'Global',

    [string[]] $Agents = @(),

    [switch] $ReplaceAllowedResources,

    [switch] $Check,

    [switch] $SkipConnect
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$isGlobal = $PolicyName -eq 'Global'

function Initialize-Teams {
    # Tests (and admins who already imported the module) provide the cmdlets themselves.
    if (-not (Get-Command -Name Set-CsTeamsAcsFederationConfiguration -ErrorAction SilentlyContinue)) {
        if (-not (Get-Module -ListAvailable -Name MicrosoftTeams)) {
            throw 'The MicrosoftTeams module is required: Install-Module MicrosoftTeams -Scope CurrentUser'
        }
        Import-Module -Name MicrosoftTeams -ErrorAction Stop
    }
    if (-not $SkipConnect) {
        try {
            $null = Get-CsTenant -ErrorAction Stop
        }
        catch {
            Connect-MicrosoftTeams -ErrorAction Stop | Out-Null
        }
    }
}

function Get-AllowedResource {
    param($Federation)
    # AllowedAcsResources is $null when nothing was ever allowed.
    if ($null -eq $Federation.AllowedAcsResources) { return @() }
    return @($Federation.AllowedAcsResources | ForEach-Object { "$_".ToLowerInvariant() })
}

function Get-Policy {
    try {
        return Get-CsExternalAccessPolicy -Identity $PolicyName -ErrorAction Stop
    }
    catch {
        return $null
    }
}

function Get-AgentPolicy {
    param([string] $Agent)
    $user = Get-CsOnlineUser -Identity $Agent -ErrorAction Stop
    $assigned = "$($user.ExternalAccessPolicy)"
    if ([string]::IsNullOrEmpty($assigned)) { return 'Global' }
    # Some module versions report "Tag:Name".
    return ($assigned -replace '^Tag:', '')
}

Initialize-Teams

$resourceId = $AcsImmutableResourceId.ToLowerInvariant()
$federation = Get-CsTeamsAcsFederationConfiguration
$allowed = @(Get-AllowedResource -Federation $federation)
$policy = Get-Policy

$federationOk = [bool]$federation.EnableAcsUsers -and ($allowed -contains $resourceId)
if ($ReplaceAllowedResources) {
    $federationOk = $federationOk -and $allowed.Count -eq 1
}
$policyOk = ($null -ne $policy) -and [bool]$policy.EnableAcsFederationAccess
$agentsToGrant = @()
if (-not $isGlobal) {
    foreach ($agent in $Agents) {
        if ((Get-AgentPolicy -Agent $agent) -ne $PolicyName) { $agentsToGrant += $agent }
    }
}

if ($Check) {
    Write-Output 'Teams ACS federation configuration'
    Write-Output ("  EnableAcsUsers        {0}" -f [bool]$federation.EnableAcsUsers)
    Write-Output ("  AllowedAcsResources   {0}" -f ($(if ($allowed.Count) { $allowed -join ', ' } else { '(none)' })))
    Write-Output ("  allows {0}: {1}" -f $resourceId, ($allowed -contains $resourceId))
    Write-Output ("External access policy '{0}'" -f $PolicyName)
    if ($null -eq $policy) {
        Write-Output '  (does not exist)'
    }
    else {
        Write-Output ("  EnableAcsFederationAccess  {0}" -f [bool]$policy.EnableAcsFederationAccess)
    }
    foreach ($agent in $Agents) {
        if (-not $isGlobal) {
            Write-Output ("  {0}: {1}" -f $agent, (Get-AgentPolicy -Agent $agent))
        }
    }
    $compliant = $federationOk -and $policyOk -and ($agentsToGrant.Count -eq 0)
    Write-Output ("Compliant: {0}" -f $compliant)
    if (-not $compliant) { exit 1 }
    exit 0
}

$changes = 0

if (-not $federationOk) {
    $newAllowed = if ($ReplaceAllowedResources) { @($resourceId) } else { @($allowed + $resourceId | Select-Object -Unique) }
    $action = "EnableAcsUsers=True, AllowedAcsResources=$($newAllowed -join ',')"
    if ($PSCmdlet.ShouldProcess('Teams ACS federation configuration', $action)) {
        Set-CsTeamsAcsFederationConfiguration -EnableAcsUsers $true -AllowedAcsResources $newAllowed
        Write-Output "Updated Teams ACS federation configuration: $action"
        $changes++
    }
}
else {
    Write-Output "Teams ACS federation already allows $resourceId"
}

if ($null -eq $policy) {
    if ($isGlobal) {
        throw 'The Global external access policy was not found; is the Teams session connected to the right tenant?'
    }
    if ($PSCmdlet.ShouldProcess("External access policy '$PolicyName'", 'Create with EnableAcsFederationAccess=True')) {
        New-CsExternalAccessPolicy -Identity $PolicyName -EnableAcsFederationAccess $true | Out-Null
        Write-Output "Created external access policy '$PolicyName' with ACS federation enabled"
        $changes++
    }
}
elseif (-not $policyOk) {
    if ($PSCmdlet.ShouldProcess("External access policy '$PolicyName'", 'Set EnableAcsFederationAccess=True')) {
        Set-CsExternalAccessPolicy -Identity $PolicyName -EnableAcsFederationAccess $true
        Write-Output "Enabled ACS federation on external access policy '$PolicyName'"
        $changes++
    }
}
else {
    Write-Output "External access policy '$PolicyName' already enables ACS federation"
}

if ($isGlobal -and $Agents.Count -gt 0) {
    Write-Warning 'Agents are ignored with the Global policy: it already applies to every user.'
}
foreach ($agent in $agentsToGrant) {
    if ($PSCmdlet.ShouldProcess($agent, "Grant external access policy '$PolicyName'")) {
        Grant-CsExternalAccessPolicy -Identity $agent -PolicyName $PolicyName
        Write-Output "Granted '$PolicyName' to $agent"
        $changes++
    }
}

if ($WhatIfPreference) {
    Write-Output 'WhatIf: nothing was changed.'
}
elseif ($changes -gt 0) {
    Write-Output "$changes change(s) made. Teams can take several hours to apply policy changes everywhere."
}
else {
    Write-Output 'No changes needed.'
}
