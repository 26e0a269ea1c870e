import type { HubHandle } from '../hub/index.ts';
import type { DemoPki } from '../pki/demo-pki.ts';
import type { DemoTopology } from './topology.ts';

/**
 * The demo gateway's config.toml, written to disk and loaded like any user's, so what the demo runs
 * is exactly what `gatehouse start --config` would run.
 */
export function gatewayToml(p: {
  dataDir: string;
  hub: HubHandle;
  pki: DemoPki;
  topo: DemoTopology;
}): string {
  const { hub, pki, topo } = p;
  const identity = pki.identities[topo.gatewayId];
  if (!identity) throw new Error(`demo PKI has no identity for ${topo.gatewayId}`);
  const q = (s: string): string => JSON.stringify(s);
  return `# Written by \`gatehouse demo\`; every key is explained in docs/configuration.md.
hostname = ${q(topo.gatewayHostname)}
trust_bundle_cert = ${q(hub.rootCaPath)}

[provisioning]
source = "manual"
iothub_hostname = ${q(topo.hubHostname)}
device_id = ${q(topo.gatewayId)}

[provisioning.authentication]
method = "x509"
identity_cert = ${q(identity.paths.chain)}
identity_pk = ${q(identity.paths.key)}

[edge_ca]
cert = ${q(pki.edgeCa.paths.chain)}
pk = ${q(pki.edgeCa.paths.key)}

[gateway]
data_dir = ${q(p.dataDir)}
listen_address = "127.0.0.1"
port = ${topo.ports.gatewayMqtt}
upstream_address = ${q(hub.host)}
upstream_mqtt_port = ${hub.mqttPort}
upstream_api_port = ${hub.apiPort}
scope_api_port = ${topo.ports.gatewayScopeApi}
metrics_listen = "127.0.0.1:${topo.ports.gatewayMetrics}"

[gateway.registry]
# Short, so a device disabled at the hub is dropped within half a minute in the demo.
refresh_interval_secs = 30
`;
}
