import { isGatehouseError } from '../errors.ts';
import type { HubAdminClient } from '../hub/index.ts';
import type { DeviceRecord } from '../registry/device.ts';
import type { Narrator } from './narrator.ts';

type AddInput = Parameters<HubAdminClient['addDevice']>[0];

/**
 * Makes the hub's registry say what the demo needs, whether this is the first run or the tenth:
 * a device that exists is updated to the current certificate's authentication, not duplicated.
 */
export async function ensureDevice(
  admin: HubAdminClient,
  input: AddInput,
  say: Narrator['say'],
): Promise<DeviceRecord> {
  try {
    await admin.getDevice(input.deviceId);
  } catch (err) {
    if (!isGatehouseError(err, 'GH_ERR_NOT_FOUND')) throw err;
    const added = await admin.addDevice(input);
    say('hub', `registered ${describe(added)}`);
    return added;
  }
  const updated = await admin.updateDevice(input.deviceId, {
    status: input.disabled ? 'disabled' : 'enabled',
    auth: input.auth,
    parentId: input.parentId ?? null,
  });
  say('hub', `kept ${describe(updated)}`);
  return updated;
}

/** Uploads the CA and proves possession of its key, unless a CA with this name is already verified. */
export async function ensureVerifiedCa(
  admin: HubAdminClient,
  name: string,
  certPem: string,
  signVerification: (code: string) => Promise<string>,
  say: Narrator['say'],
): Promise<void> {
  const existing = (await admin.listCas()).find((c) => c.name === name);
  if (existing?.verified) {
    say('hub', `CA "${name}" already uploaded and verified`);
    return;
  }
  const { verificationCode } = await admin.uploadCa(name, certPem);
  say('hub', `uploaded CA "${name}"; the hub asks for proof of possession with code ${verificationCode}`);
  await admin.verifyCa(name, await signVerification(verificationCode));
  say(
    'hub',
    `CA "${name}" verified: a certificate with CN=${verificationCode} signed by its key was accepted`,
  );
}

function describe(r: DeviceRecord): string {
  const auth =
    r.authentication.type === 'selfSigned'
      ? `thumbprint ${r.authentication.primaryThumbprint.slice(0, 16)}…`
      : 'CA-signed certificate';
  return `${r.capabilities.iotEdge ? 'edge device' : 'device'} ${r.deviceId} (${auth}${r.parentId ? `, parent ${r.parentId}` : ''})`;
}
