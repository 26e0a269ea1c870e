// The device broker's public surface: the composition root imports from here.
export { type BrokerHandle, type StartBrokerOptions, startBroker } from './broker.ts';
export { addGatewayGauges, type GatewayGaugeSources, type UpstreamTotals } from './gateway-gauges.ts';
export { type Health, type HealthBody, healthOf } from './health.ts';
export type { ServerTls } from './listener.ts';
export { type BrokerMetrics, type BrokerStats, createBrokerMetrics } from './metrics.ts';
export { type MetricsServer, startMetricsServer } from './metrics-server.ts';
export type { BrokerRegistry, RegistryChange, RegistryStatus } from './types.ts';
