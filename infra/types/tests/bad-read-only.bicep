// expect: read-only
// provisioningState is computed by Azure: setting it fails the deployment.
resource ns 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: 'sb-sample'
  location: 'westeurope'
  sku: {
    name: 'Standard'
  }
  properties: {
    provisioningState: 'Succeeded'
  }
}
