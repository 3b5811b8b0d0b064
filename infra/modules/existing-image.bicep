// Reads the image a container app currently runs, so that re-provisioning (azd provision, or the
// deploy workflow) never rolls an app back to an older image or the placeholder: azd deploys new
// images by changing only containers[0].image, outside of this template.

@description('Name of an existing container app in this resource group.')
param name string

resource app 'Microsoft.App/containerApps@2025-01-01' existing = {
  name: name
}

@description('Image of the first container of the app.')
output image string = app.properties.template.containers[0].image
