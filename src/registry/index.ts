// The registry module's public surface for the rest of the gateway.
export { createRegistryCache, type RegistryCacheOptions } from './cache.ts';
export * from './device.ts';
export * from './scope.ts';
export { createScopeClient, type ScopeClientOptions } from './scope-client.ts';
export type * from './types.ts';
