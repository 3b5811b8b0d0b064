# Pester 5 tests for enable-interop.ps1, with the MicrosoftTeams cmdlets replaced by mocks.
# Run: Invoke-Pester -Path infra/teams   (the infra GitHub workflow does, on every change).

BeforeAll {
    $script:Subject = Join-Path $PSScriptRoot 'enable-interop.ps1'
    $script:Id = '3f0a9c0e-1c1b-4c5e-9a57-5b4a2e1d7c11'
    $script:Other = 'aaaaaaaa-0000-0000-0000-000000000001'

    # Stand-ins so the script finds the cmdlets without the MicrosoftTeams module; Pester mocks them.
    function global:Get-CsTenant { }
    function global:Get-CsTeamsAcsFederationConfiguration { }
    function global:Set-CsTeamsAcsFederationConfiguration { param($EnableAcsUsers, $AllowedAcsResources) }
    function global:Get-CsExternalAccessPolicy { param($Identity) }
    function global:Set-CsExternalAccessPolicy { param($Identity, $EnableAcsFederationAccess) }
    function global:New-CsExternalAccessPolicy { param($Identity, $EnableAcsFederationAccess) }
    function global:Grant-CsExternalAccessPolicy { param($Identity, $PolicyName) }
    function global:Get-CsOnlineUser { param($Identity) }
}

AfterAll {
    foreach ($name in 'Get-CsTenant', 'Get-CsTeamsAcsFederationConfiguration', 'Set-CsTeamsAcsFederationConfiguration',
        'Get-CsExternalAccessPolicy', 'Set-CsExternalAccessPolicy', 'New-CsExternalAccessPolicy',
        'Grant-CsExternalAccessPolicy', 'Get-CsOnlineUser') {
        Remove-Item -Path "function:global:$name" -ErrorAction SilentlyContinue
    }
}

Describe 'enable-interop.ps1' {
    BeforeEach {
        Mock Get-CsTeamsAcsFederationConfiguration {
            [pscustomobject]@{ EnableAcsUsers = $false; AllowedAcsResources = @($script:Other) }
        }
        Mock Set-CsTeamsAcsFederationConfiguration { }
        Mock Get-CsExternalAccessPolicy {
            [pscustomobject]@{ Identity = 'Global'; EnableAcsFederationAccess = $false }
        } -ParameterFilter { $Identity -eq 'Global' }
        Mock Get-CsExternalAccessPolicy { throw 'not found' } -ParameterFilter { $Identity -ne 'Global' }
        Mock Set-CsExternalAccessPolicy { }
        Mock New-CsExternalAccessPolicy { }
        Mock Grant-CsExternalAccessPolicy { }
        Mock Get-CsOnlineUser { [pscustomobject]@{ ExternalAccessPolicy = $null } }
    }

    It 'enables ACS users, adds the resource and keeps the resources already allowed' {
        & $script:Subject -AcsImmutableResourceId $script:Id -SkipConnect -Confirm:$false | Out-Null
        Should -Invoke Set-CsTeamsAcsFederationConfiguration -Times 1 -Exactly -ParameterFilter {
            $EnableAcsUsers -eq $true -and ($AllowedAcsResources -contains $script:Id) -and ($AllowedAcsResources -contains $script:Other)
        }
        Should -Invoke Set-CsExternalAccessPolicy -Times 1 -Exactly -ParameterFilter {
            $Identity -eq 'Global' -and $EnableAcsFederationAccess -eq $true
        }
    }

    It 'replaces the allow list only when asked to' {
        & $script:Subject -AcsImmutableResourceId $script:Id -ReplaceAllowedResources -SkipConnect -Confirm:$false | Out-Null
        Should -Invoke Set-CsTeamsAcsFederationConfiguration -Times 1 -Exactly -ParameterFilter {
            @($AllowedAcsResources).Count -eq 1 -and $AllowedAcsResources[0] -eq $script:Id
        }
    }

    It 'changes nothing when everything is already configured (idempotent re-run)' {
        Mock Get-CsTeamsAcsFederationConfiguration {
            [pscustomobject]@{ EnableAcsUsers = $true; AllowedAcsResources = @($script:Other, $script:Id.ToUpperInvariant()) }
        }
        Mock Get-CsExternalAccessPolicy {
            [pscustomobject]@{ Identity = 'Global'; EnableAcsFederationAccess = $true }
        } -ParameterFilter { $Identity -eq 'Global' }
        $output = & $script:Subject -AcsImmutableResourceId $script:Id -SkipConnect -Confirm:$false
        Should -Invoke Set-CsTeamsAcsFederationConfiguration -Times 0 -Exactly
        Should -Invoke Set-CsExternalAccessPolicy -Times 0 -Exactly
        ($output -join "`n") | Should -Match 'No changes needed'
    }

    It 'changes nothing with -WhatIf' {
        & $script:Subject -AcsImmutableResourceId $script:Id -SkipConnect -WhatIf | Out-Null
        Should -Invoke Set-CsTeamsAcsFederationConfiguration -Times 0 -Exactly
        Should -Invoke Set-CsExternalAccessPolicy -Times 0 -Exactly
    }

    It 'creates a custom policy and grants it only to agents who do not have it' {
        Mock Get-CsOnlineUser { [pscustomobject]@{ ExternalAccessPolicy = 'SwitchboardAgents' } } -ParameterFilter { $Identity -eq 'bob@contoso.com' }
        & $script:Subject -AcsImmutableResourceId $script:Id -PolicyName SwitchboardAgents `
            -Agents 'alice@contoso.com', 'bob@contoso.com' -SkipConnect -Confirm:$false | Out-Null
        Should -Invoke New-CsExternalAccessPolicy -Times 1 -Exactly -ParameterFilter {
            $Identity -eq 'SwitchboardAgents' -and $EnableAcsFederationAccess -eq $true
        }
        Should -Invoke Grant-CsExternalAccessPolicy -Times 1 -Exactly -ParameterFilter {
            $Identity -eq 'alice@contoso.com' -and $PolicyName -eq 'SwitchboardAgents'
        }
        Should -Invoke Set-CsExternalAccessPolicy -Times 0 -Exactly
    }

    It '-Check reports and exits 1 when the resource is not allowed, without changing anything' {
        & $script:Subject -AcsImmutableResourceId $script:Id -SkipConnect -Check | Out-Null
        $LASTEXITCODE | Should -Be 1
        Should -Invoke Set-CsTeamsAcsFederationConfiguration -Times 0 -Exactly
    }

    It '-Check exits 0 when compliant' {
        Mock Get-CsTeamsAcsFederationConfiguration {
            [pscustomobject]@{ EnableAcsUsers = $true; AllowedAcsResources = @($script:Id) }
        }
        Mock Get-CsExternalAccessPolicy {
            [pscustomobject]@{ Identity = 'Global'; EnableAcsFederationAccess = $true }
        } -ParameterFilter { $Identity -eq 'Global' }
        & $script:Subject -AcsImmutableResourceId $script:Id -SkipConnect -Check | Out-Null
        $LASTEXITCODE | Should -Be 0
    }

    It 'rejects an id that is not a GUID' {
        { & $script:Subject -AcsImmutableResourceId 'not-a-guid' -SkipConnect -Check } | Should -Throw
    }
}
