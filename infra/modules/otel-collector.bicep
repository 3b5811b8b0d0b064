// The OpenTelemetry Collector the apps export traces, metrics and logs to (OTLP/HTTP), which
// forwards all three to Application Insights.
//
// Why a collector app and not the environment's managed OpenTelemetry agent: the managed agent
// sends traces and logs to Application Insights but not metrics ("Collect and read
// OpenTelemetry data in Azure Container Apps": Application Insights destination — logs yes,
// metrics no, traces yes), and it is configured through `appInsightsConfiguration` /
// `openTelemetryConfiguration`, which exist only in preview API versions of
// Microsoft.App/managedEnvironments (2025-10-02-preview at the newest in the type definitions;
// none of the GA versions up to 2026-01-01 has them). The collector (contrib distribution, its
// `azuremonitor` exporter) covers all three signals with GA APIs, for one small always-on app.
//
// Reached only from inside the environment: internal ingress, HTTPS on the environment's own
// certificate (https://<name>.internal.<default domain>). The Application Insights connection
// string comes from Key Vault with the collector's own identity; the apps never hold it.

@description('Name of the collector container app.')
@minLength(2)
@maxLength(32)
param name string

@description('Azure region.')
param location string

@description('Tags.')
param tags object

@description('Resource id of the Container Apps environment.')
param environmentId string

@description('Resource id of the identity that reads the telemetry secret.')
param identityId string

@description('Versionless Key Vault URL of the Application Insights connection string.')
param appInsightsSecretUri string

@description('Collector image (contrib distribution: it has the azuremonitor exporter). Pinned to an exact version.')
param image string = 'docker.io/otel/opentelemetry-collector-contrib:0.116.0'

var otlpHttpPort = 4318
var healthPort = 13133
var secretName = 'appinsights-connection-string'

// The whole collector configuration, passed as an env var (`--config=env:…`), so no file or
// volume is needed. `${env:…}` is expanded by the collector at start.
var collectorConfig = '''
receivers:
  otlp:
    protocols:
      http:
        endpoint: 0.0.0.0:4318
processors:
  batch:
    timeout: 5s
exporters:
  azuremonitor:
    connection_string: ${env:APPLICATIONINSIGHTS_CONNECTION_STRING}
extensions:
  health_check:
    endpoint: 0.0.0.0:13133
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [azuremonitor]
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [azuremonitor]
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [azuremonitor]
'''

resource collector 'Microsoft.App/containerApps@2025-01-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: false
        targetPort: otlpHttpPort
        transport: 'http'
        allowInsecure: false
      }
      secrets: [
        {
          name: secretName
          keyVaultUrl: appInsightsSecretUri
          identity: identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'otel-collector'
          image: image
          args: [
            '--config=env:OTELCOL_CONFIG'
          ]
          env: [
            {
              name: 'OTELCOL_CONFIG'
              value: collectorConfig
            }
            {
              name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
              secretRef: secretName
            }
          ]
          resources: {
            cpu: json('0.25')
            memory: '0.5Gi'
          }
          probes: [
            {
              type: 'Liveness'
              httpGet: {
                path: '/'
                port: healthPort
              }
              periodSeconds: 10
              failureThreshold: 3
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/'
                port: healthPort
              }
              periodSeconds: 5
              failureThreshold: 3
            }
          ]
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: 3
      }
    }
  }
}

@description('OTLP/HTTP base URL for the apps (OTEL_EXPORTER_OTLP_ENDPOINT).')
output endpoint string = 'https://${collector.properties.configuration.ingress.fqdn}'
