// expect: type
// An API version that does not exist for the type (Service Bus has no 2024-13-01).
resource ns 'Microsoft.ServiceBus/namespaces@2024-13-01' = {
  name: 'sb-sample'
  location: 'westeurope'
}
