import { authenticateDevice } from '../auth/authenticate.ts';
import type { HookContext } from './context.ts';
import { type DeviceSession, type GatehouseClient, kSession } from './session.ts';
import type { RegistryChange } from './types.ts';

/**
 * Registry changes act on live connections: a disabled or removed device is dropped at once; a
 * device whose record changed (e.g. a new thumbprint), or every CA-authenticated device when the
 * verified CA set changed, is re-checked against the certificates it presented at CONNECT.
 * Devices an edge acts for need nothing here: mayActFor asks the registry on every publish.
 */
export function applyRegistryChange(
  ctx: HookContext,
  clients: Readonly<Record<string, GatehouseClient | undefined>>,
  change: RegistryChange,
): void {
  ctx.c2d.revoke(change.disabledOrRemoved);
  for (const id of change.disabledOrRemoved) {
    const client = clients[id];
    const session = client?.[kSession];
    if (!client || !session) continue;
    session.revoked = true;
    ctx.log.info(
      { deviceId: id, reason: 'disabled-or-removed' },
      'closing connection of a device no longer allowed',
    );
    client.close();
  }
  for (const id of change.updated) recheck(ctx, clients[id]);
  if (change.casChanged) {
    for (const client of Object.values(clients)) {
      if (client?.[kSession]?.method === 'ca') recheck(ctx, client);
    }
  }
}

function recheck(ctx: HookContext, client: GatehouseClient | undefined): void {
  const session: DeviceSession | undefined = client?.[kSession];
  if (!client || !session || session.revoked) return;
  const id = session.deviceId;
  const decision = authenticateDevice({
    clientId: id,
    username: undefined,
    peerChain: session.peerChain,
    record: ctx.registry.get(id),
    inScope: ctx.registry.inScope(id),
    verifiedCas: ctx.registry.verifiedCas(),
    now: ctx.now(),
  });
  if (decision.ok) return;
  session.revoked = true;
  ctx.c2d.revoke([id]);
  ctx.log.info(
    { deviceId: id, reason: decision.reason, thumbprint: session.thumbprint },
    'closing connection: the updated registry no longer accepts its certificate',
  );
  client.close();
}
