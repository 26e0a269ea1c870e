import type { DemoPki } from '../pki/demo-pki.ts';
import type { DemoTopology } from './topology.ts';

/** Commands a user can paste to connect as the demo's registered devices with real third-party tools. */
export function pasteableCommands(pki: DemoPki, topo: DemoTopology, gatewayPort: number): string[] {
  const ca = pki.devices[topo.caSensorId];
  const thumb = pki.devices[topo.thumbSensorId];
  if (!ca || !thumb) return [];
  const host = topo.gatewayHostname;
  const user = `${topo.hubHostname}/${topo.caSensorId}/?api-version=2021-04-12`;
  return [
    '# Verify the gateway chain and hostname (expect "Verify return code: 0 (ok)"):',
    `openssl s_client -connect ${host}:${gatewayPort} -CAfile ${pki.root.paths.cert} -verify_hostname ${host} -cert ${thumb.paths.cert} -key ${thumb.paths.key} </dev/null`,
    '',
    `# Subscribe to cloud-to-device messages as ${topo.caSensorId} (CA authentication):`,
    `mosquitto_sub -h ${host} -p ${gatewayPort} --cafile ${pki.root.paths.cert} --cert ${ca.paths.chain} --key ${ca.paths.key} -i ${topo.caSensorId} -u '${user}' -t 'devices/${topo.caSensorId}/messages/devicebound/#' -q 1 -v`,
    "#   (client id = device id, so this takes over the demo sensor's session, as MQTT does)",
    '',
    `# Send telemetry as ${topo.thumbSensorId} (thumbprint authentication):`,
    `mosquitto_pub -h ${host} -p ${gatewayPort} --cafile ${pki.root.paths.cert} --cert ${thumb.paths.cert} --key ${thumb.paths.key} -i ${topo.thumbSensorId} -t 'devices/${topo.thumbSensorId}/messages/events/source=mosquitto' -m '{"hello":"gatehouse"}' -q 1`,
    '',
    '# Watch what reached the hub:',
    'npx gatehouse hub messages --data .gatehouse/hub --follow',
  ];
}
