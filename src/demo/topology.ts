/** The names and ports of the one-machine demo; one place, so the printed commands match what runs. */
export interface DemoTopology {
  readonly hubHostname: string;
  readonly gatewayHostname: string;
  readonly gatewayId: string;
  readonly thumbSensorId: string;
  readonly caSensorId: string;
  readonly edgeCaName: string;
  readonly caName: string;
  readonly ports: DemoPorts;
}

export interface DemoPorts {
  readonly hubMqtt: number;
  readonly hubApi: number;
  readonly gatewayMqtt: number;
  readonly gatewayScopeApi: number;
  readonly gatewayMetrics: number;
}

/** Fixed ports so the printed commands can be pasted; `ephemeral` (tests) takes any free ones. */
export function demoPorts(ephemeral: boolean): DemoPorts {
  if (ephemeral) return { hubMqtt: 0, hubApi: 0, gatewayMqtt: 0, gatewayScopeApi: 0, gatewayMetrics: 0 };
  return { hubMqtt: 18883, hubApi: 18443, gatewayMqtt: 8883, gatewayScopeApi: 8443, gatewayMetrics: 9600 };
}

export function demoTopology(ephemeral: boolean): DemoTopology {
  return {
    hubHostname: 'localhost',
    // An IP address: the server certificate then carries an IP SAN, and the hub's hostname differs.
    gatewayHostname: '127.0.0.1',
    gatewayId: 'demo-gateway',
    thumbSensorId: 'sensor-thumb-01',
    caSensorId: 'sensor-ca-01',
    edgeCaName: 'demo-edge-ca',
    caName: 'demo-intermediate',
    ports: demoPorts(ephemeral),
  };
}
