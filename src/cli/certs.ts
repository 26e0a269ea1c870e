import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { GatehouseError } from '../errors.ts';
import {
  assertNoneExist,
  type CertInfo,
  type CreatedCredential,
  createDevice,
  createEdgeCa,
  createIdentity,
  createRootCa,
  createServer,
  createVerification,
  credentialPaths,
  describeCertificate,
  exportPkcs12,
  formatDescription,
  isKeyType,
  loadCredential,
  type PkiDirOptions,
  parseCertificatesPem,
  readTextFile,
  toOpensslForm,
  writeFileAtomic,
} from '../pki/index.ts';
import type { CliIo } from './io.ts';

const DEFAULT_DIR = './certs';

interface CommonFlags {
  readonly dir: string;
  readonly keyType: string;
  readonly days?: string;
  readonly force: boolean;
}

/** `gatehouse certs …`: create and inspect the certificates of a Gatehouse PKI (see certs/README.md). */
export function registerCertsCommands(program: Command, io: CliIo): void {
  const certs = program
    .command('certs')
    .description('create and inspect the certificates of a Gatehouse PKI (files: see certs/README.md)');

  issuing(certs.command('create-root'))
    .description('create the root CA (root-ca.*) and, with --intermediate, an intermediate CA under it')
    .option('--intermediate', 'also create intermediate-ca.* signed by the root', false)
    .action(async (o: CommonFlags & { intermediate: boolean }) => {
      const made = await createRootCa({ ...pkiOptions(o), intermediate: o.intermediate });
      printCreated(io, made.root);
      if (made.intermediate) printCreated(io, made.intermediate);
    });

  issuing(certs.command('create-edge-ca'))
    .description('create an Edge CA (edge-ca-NAME.*; CA, pathLen 0) under the intermediate, else the root')
    .requiredOption('--name <name>', 'Edge CA name: its CN and file name; must differ from the hostname')
    .option('--hostname <host>', 'gateway hostname; refused when equal to --name')
    .action(async (o: CommonFlags & { name: string; hostname?: string }) => {
      const hostname = o.hostname !== undefined ? { hostname: o.hostname } : {};
      printCreated(io, await createEdgeCa({ ...pkiOptions(o), name: o.name, ...hostname }));
    });

  for (const [name, what, create] of [
    ['create-identity', "a gateway's or device's identity certificate (identity-ID.*)", createIdentity],
    ['create-device', 'a downstream device certificate (device-ID.*)', createDevice],
  ] as const) {
    issuing(certs.command(name))
      .description(`create ${what}: CN = device id, clientAuth; CA-signed or --self-signed`)
      .requiredOption('--device-id <id>', 'device id (CN of the certificate)')
      .option('--self-signed', 'self-signed, for thumbprint authentication', false)
      .option('--ca <name>', 'issuing CA credential name (default: intermediate-ca, else root-ca)')
      .action(async (o: CommonFlags & { deviceId: string; selfSigned: boolean; ca?: string }) => {
        const ca = o.ca !== undefined ? { ca: o.ca } : {};
        printCreated(
          io,
          await create({ ...pkiOptions(o), deviceId: o.deviceId, selfSigned: o.selfSigned, ...ca }),
        );
      });
  }

  issuing(certs.command('create-verification'))
    .description('create a proof-of-possession certificate (verification-CODE.*) signed by a CA key')
    .requiredOption('--code <code>', 'verification code handed out by the hub (becomes the CN)')
    .option('--ca <name>', 'CA whose key signs (default: intermediate-ca, else root-ca)')
    .action(async (o: CommonFlags & { code: string; ca?: string }) => {
      const ca = o.ca !== undefined ? { ca: o.ca } : {};
      printCreated(io, await createVerification({ ...pkiOptions(o), code: o.code, ...ca }));
    });

  issuing(certs.command('create-server'))
    .description('create a TLS server certificate (server-HOSTNAME.*) issued by an Edge CA')
    .requiredOption('--hostname <host>', 'DNS name or IP address clients connect to (CN and first SAN)')
    .requiredOption('--edge-ca <name>', 'the issuing Edge CA (as given to create-edge-ca --name)')
    .option('--san <name...>', 'more DNS names or IP addresses for the SAN')
    .action(async (o: CommonFlags & { hostname: string; edgeCa: string; san?: string[] }) => {
      const extra = o.san ? { extraNames: o.san } : {};
      printCreated(
        io,
        await createServer({ ...pkiOptions(o), hostname: o.hostname, edgeCa: o.edgeCa, ...extra }),
      );
    });

  certs
    .command('thumbprint')
    .description('print the IoT Hub thumbprint (uppercase hex) of the first certificate in FILE')
    .argument('<file>', 'PEM file, or a credential name in --dir')
    .option('--dir <dir>', 'where credential names are looked up', DEFAULT_DIR)
    .option('--sha1', 'SHA-1 instead of SHA-256', false)
    .option('--json', 'print JSON', false)
    .action(async (file: string, o: { dir: string; sha1: boolean; json: boolean }) => {
      const [cert] = await readCertificates(file, o.dir);
      const value = o.sha1 ? (cert as CertInfo).sha1 : (cert as CertInfo).sha256;
      if (!o.json) return io.out(value);
      const algorithm = o.sha1 ? 'sha1' : 'sha256';
      io.out(JSON.stringify({ algorithm, thumbprint: value, openssl: toOpensslForm(value) }));
    });

  certs
    .command('inspect')
    .description(
      'show subject, issuer, SANs, validity, thumbprints and CA facts of every certificate in FILE',
    )
    .argument('<file>', 'PEM file, or a credential name in --dir')
    .option('--dir <dir>', 'where credential names are looked up', DEFAULT_DIR)
    .option('--json', 'print JSON', false)
    .action(async (file: string, o: { dir: string; json: boolean }) => {
      const now = Date.now();
      const described = (await readCertificates(file, o.dir)).map((c) => describeCertificate(c, now));
      if (o.json) return io.out(JSON.stringify({ certificates: described }, null, 2));
      described.forEach((d, i) => {
        if (i > 0) io.out('');
        if (described.length > 1) io.out(`certificate ${i + 1} of ${described.length}`);
        for (const line of formatDescription(d)) io.out(line);
      });
    });

  certs
    .command('export-p12')
    .description('write a password-protected PKCS#12 (.pfx) with the key and chain of a credential')
    .requiredOption('--name <name>', 'credential name in --dir, e.g. identity-gw1 or device-sensor1')
    .requiredOption('--out <file>', 'the .pfx file to write (mode 0600)')
    .option('--password <password>', 'PFX password (default: a random one, printed once)')
    .option('--dir <dir>', 'directory of the PKI files', DEFAULT_DIR)
    .option('--force', 'overwrite --out', false)
    .action(async (o: { name: string; out: string; password?: string; dir: string; force: boolean }) => {
      assertNoneExist([o.out], o.force);
      const cred = await loadCredential(o.dir, o.name);
      const password = o.password ?? randomBytes(18).toString('base64url');
      const pfx = exportPkcs12({ keyPem: cred.keyPem, chain: cred.chain, password });
      await writeFileAtomic(o.out, pfx, 0o600);
      io.out(`wrote ${o.out} (${cred.chain.length} certificate(s) and the key of ${o.name})`);
      if (o.password === undefined) io.out(`password: ${password}`);
    });
}

/** The options every issuing command shares. */
function issuing(cmd: Command): Command {
  return cmd
    .option('--dir <dir>', 'directory of the PKI files', DEFAULT_DIR)
    .option('--key-type <type>', 'ec-p256 or rsa-2048', 'ec-p256')
    .option('--days <n>', 'lifetime in days, 1–36500 (default: per kind, see certs/README.md)')
    .option('--force', 'overwrite existing files', false);
}

function pkiOptions(o: CommonFlags): PkiDirOptions {
  if (!isKeyType(o.keyType)) {
    throw new GatehouseError('GH_ERR_USAGE', `--key-type must be ec-p256 or rsa-2048, got "${o.keyType}"`);
  }
  const days = o.days === undefined ? undefined : Number(o.days);
  if (days !== undefined && (!/^[0-9]{1,5}$/.test(o.days ?? '') || days < 1 || days > 36_500)) {
    throw new GatehouseError(
      'GH_ERR_USAGE',
      `--days must be a whole number from 1 to 36500, got "${o.days}"`,
    );
  }
  return { dir: o.dir, keyType: o.keyType, force: o.force, ...(days !== undefined ? { days } : {}) };
}

/** FILE as a path, else as a file in `dir`, else as the name of a credential in `dir` (its NAME.cert.pem). */
async function readCertificates(file: string, dir: string): Promise<CertInfo[]> {
  const candidates = [file, join(dir, file), safeCredentialCert(dir, file)];
  const path = candidates.find((p): p is string => p !== undefined && existsSync(p)) ?? file;
  return parseCertificatesPem(await readTextFile(path, 'certificate file'), path);
}

function safeCredentialCert(dir: string, name: string): string | undefined {
  try {
    return credentialPaths(dir, name).cert;
  } catch {
    return undefined;
  }
}

function printCreated(io: CliIo, made: CreatedCredential): void {
  const c = made.cert;
  io.out(`created ${made.name}: ${c.subject}, valid until ${new Date(c.notAfter).toISOString()}`);
  io.out(`  cert   ${made.paths.cert}`);
  io.out(`  key    ${made.paths.key}`);
  io.out(`  chain  ${made.paths.chain} (${made.chain.length} certificate(s))`);
  io.out(`  SHA-256 ${c.sha256}`);
  io.out(`  SHA-1   ${c.sha1}`);
}
