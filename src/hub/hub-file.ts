import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { GatehouseError } from '../errors.ts';
import { writeFileAtomic } from '../pki/store.ts';

/**
 * The files a running hub leaves in its data directory for the admin CLI: hub.json (where it listens)
 * and admin.token (the bearer token; mode 0600 in a 0700 directory, so other local users cannot read it).
 */
export const hubFiles = (dataDir: string) => ({
  info: join(dataDir, 'hub.json'),
  token: join(dataDir, 'admin.token'),
  db: join(dataDir, 'hub.db'),
  rootCa: join(dataDir, 'tls', 'root-ca.cert.pem'),
});

export const hubInfoSchema = z
  .object({
    host: z.string().min(1).max(255),
    mqttPort: z.number().int().min(1).max(65535),
    apiPort: z.number().int().min(1).max(65535),
    hostname: z.string().min(1).max(253),
    pid: z.number().int().positive(),
  })
  .strict();

export type HubInfo = z.infer<typeof hubInfoSchema>;

const TOKEN = /^[0-9a-f]{64}$/;

/** Creates the data directory (0700), tightening it when it already exists. */
export async function prepareDataDir(dataDir: string): Promise<void> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await chmod(dataDir, 0o700);
  } catch (err) {
    throw new GatehouseError(
      'GH_ERR_CONFIG',
      `hub data directory ${dataDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { cause: err },
    );
  }
}

/** Reads the admin token, creating it on first start. */
export async function ensureAdminToken(dataDir: string): Promise<string> {
  const path = hubFiles(dataDir).token;
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing === undefined) {
    const token = randomBytes(32).toString('hex');
    await writeFileAtomic(path, `${token}\n`, 0o600);
    return token;
  }
  const token = existing.trim();
  if (!TOKEN.test(token)) {
    throw new GatehouseError(
      'GH_ERR_CONFIG',
      `${path} is damaged (expected 64 hex characters); remove it to create a new token`,
    );
  }
  await chmod(path, 0o600);
  return token;
}

export async function readAdminToken(dataDir: string): Promise<string> {
  const path = hubFiles(dataDir).token;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GatehouseError('GH_ERR_UNAUTHORIZED', `cannot read the hub admin token ${path} (${code})`, {
      cause: err,
    });
  }
  const token = text.trim();
  if (!TOKEN.test(token)) throw new GatehouseError('GH_ERR_CONFIG', `${path} is damaged`);
  return token;
}

/** Refuses to start a second hub on a data directory a live process is already serving. */
export async function assertNoOtherHub(dataDir: string): Promise<void> {
  const info = await readHubInfo(dataDir).catch(() => undefined);
  if (!info || info.pid === process.pid) return;
  if (processAlive(info.pid)) {
    throw new GatehouseError(
      'GH_ERR_CONFLICT',
      `a hub (pid ${info.pid}) is already running on ${dataDir}; stop it first (or remove ${hubFiles(dataDir).info} if that process is not a hub)`,
    );
  }
}

export async function writeHubInfo(dataDir: string, info: HubInfo): Promise<void> {
  await writeFileAtomic(hubFiles(dataDir).info, `${JSON.stringify(info, null, 2)}\n`, 0o600);
}

export async function removeHubInfo(dataDir: string): Promise<void> {
  await rm(hubFiles(dataDir).info, { force: true });
}

export async function readHubInfo(dataDir: string): Promise<HubInfo> {
  const path = hubFiles(dataDir).info;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    await stat(dataDir).catch((err: unknown) => {
      throw new GatehouseError('GH_ERR_FILE_MISSING', `hub data directory ${dataDir} does not exist`, {
        cause: err,
      });
    });
    throw new GatehouseError('GH_ERR_UNREACHABLE', `no hub is running on ${dataDir} (${path} is missing)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new GatehouseError('GH_ERR_CONFIG', `${path} is not valid JSON`, { cause: err });
  }
  const parsed = hubInfoSchema.safeParse(json);
  if (!parsed.success) throw new GatehouseError('GH_ERR_CONFIG', `${path} is damaged`);
  return parsed.data;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
