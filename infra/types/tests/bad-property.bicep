// expect: property
// A misspelt property in a nested object inside an array item: the container's `env` entry
// has `secretRef`, not `secretReference`.
param environmentId string
resource app 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'sample'
  location: 'westeurope'
  properties: {
    environmentId: environmentId
    template: {
      containers: [
        {
          name: 'main'
          image: 'mcr.microsoft.com/k8se/quickstart:latest'
          env: [
            {
              name: 'SECRET'
              secretReference: 'app-secret'
            }
          ]
        }
      ]
    }
  }
}
