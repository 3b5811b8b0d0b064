// expect: literal
// A value outside the allowed set: Service Bus SKUs are Basic, Standard, Premium.
resource ns 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: 'sb-sample'
  location: 'westeurope'
  sku: {
    name: 'Gold'
  }
}
