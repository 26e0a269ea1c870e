// PKI speed: issuing a device certificate (key generation included) and validating a depth-3 chain,
// next to the openssl CLI doing the same work in the same run. `npm run bench:pki`.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type CertInfo,
  createRootCa,
  EKU_CLIENT_AUTH,
  generateKeyPair,
  INTERMEDIATE_CA,
  issueCertificate,
  loadCa,
  parseCertificateDer,
  validateChain,
} from '../src/pki/index.ts';
import { gitFacts, machineFacts, timestampForFile } from './lib/machine.ts';
import { median, percentile, round } from './lib/stats.ts';

interface Budget {
  /** Untimed runs first (JIT, caches, page faults). */
  readonly warmup: number;
  /** At most this many timed runs… */
  readonly max: number;
  /** …and at most this long. */
  readonly budgetMs: number;
}

interface Result {
  readonly name: string;
  readonly samples: number;
  readonly medianMs: number;
  readonly p90Ms: number;
  readonly minMs: number;
  readonly targetMs?: number;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const T_ISSUE_MS = 5;
const T_VALIDATE_MS = 0.3;
/** `--quick`: a few runs of each, to check the script works; no result file. */
const QUICK = process.argv.includes('--quick');

async function measure(name: string, b: Budget, fn: () => unknown, targetMs?: number): Promise<Result> {
  const max = QUICK ? Math.min(b.max, 5) : b.max;
  // Only promises are awaited: an `await` on a plain value would add a microtask turn to sync timings.
  const once = async (): Promise<void> => {
    const r = fn();
    if (r instanceof Promise) await r;
  };
  for (let i = 0; i < (QUICK ? 1 : b.warmup); i++) await once();
  const samples: number[] = [];
  const deadline = performance.now() + b.budgetMs;
  while (samples.length < max && performance.now() < deadline) {
    const t = performance.now();
    const r = fn();
    if (r instanceof Promise) await r;
    samples.push(performance.now() - t);
  }
  return {
    name,
    samples: samples.length,
    medianMs: median(samples),
    p90Ms: percentile(samples, 90),
    minMs: Math.min(...samples),
    ...(targetMs !== undefined ? { targetMs } : {}),
  };
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Load average when the run started: on a shared machine, the context every figure needs. */
const LOAD_AT_START = loadavg();

async function run(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'gatehouse-bench-pki-'));
  try {
    await createRootCa({ dir: work, intermediate: true });
    const ca = await loadCa(work, INTERMEDIATE_CA, new Date());
    const root = parseCertificateDer(
      Buffer.from(
        execFileSync('openssl', ['x509', '-in', join(work, 'root-ca.cert.pem'), '-outform', 'DER']),
      ),
    );
    const inter = ca.issuer.cert;
    let n = 0;
    const issueDevice = async (): Promise<CertInfo> =>
      issueCertificate({
        profile: 'client',
        commonName: `bench-device-${n++}`,
        subjectKeys: await generateKeyPair('ec-p256'),
        issuer: ca.issuer,
        days: 30,
      });
    const leaf = await issueDevice();
    const at = Date.now();
    const check = (l: CertInfo, i: CertInfo, r: CertInfo): void => {
      const result = validateChain({
        leaf: l,
        intermediates: [i],
        anchors: [r],
        at,
        purpose: EKU_CLIENT_AUTH,
      });
      if (!result.ok) throw new Error(`benchmark chain refused: ${result.detail}`);
    };
    const der = { leaf: leaf.der, inter: inter.der, root: root.der };

    const leafPem = join(work, 'leaf.pem');
    await writeFile(leafPem, leaf.pem);
    const caCert = join(work, 'intermediate-ca.cert.pem');
    const caKey = join(work, 'intermediate-ca.key.pem');
    const out = (f: string) => join(work, f);
    const opensslIssue = [
      'req',
      '-x509',
      '-CA',
      caCert,
      '-CAkey',
      caKey,
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      out('o.key.pem'),
      '-out',
      out('o.cert.pem'),
      '-subj',
      '/CN=bench-device',
      '-days',
      '30',
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'keyUsage=critical,digitalSignature',
      '-addext',
      'extendedKeyUsage=clientAuth',
    ];
    const opensslVerify = [
      'verify',
      '-CAfile',
      join(work, 'root-ca.cert.pem'),
      '-untrusted',
      caCert,
      '-purpose',
      'sslclient',
      leafPem,
    ];

    const results: Result[] = [];
    results.push(
      await measure(
        'gatehouse: issue P-256 device cert (keygen + sign + parse)',
        { warmup: 50, max: 2000, budgetMs: 10_000 },
        issueDevice,
        T_ISSUE_MS,
      ),
    );
    results.push(
      await measure(
        'gatehouse: validateChain depth 3, parsed CertInfo',
        { warmup: 1000, max: 20_000, budgetMs: 5_000 },
        () => check(leaf, inter, root),
        T_VALIDATE_MS,
      ),
    );
    results.push(
      await measure(
        'gatehouse: parse (cache hit) + validateChain',
        { warmup: 1000, max: 20_000, budgetMs: 5_000 },
        () =>
          check(parseCertificateDer(der.leaf), parseCertificateDer(der.inter), parseCertificateDer(der.root)),
      ),
    );
    const cold = { cache: false };
    results.push(
      await measure(
        'gatehouse: cold parse of 3 DER + validateChain',
        { warmup: 200, max: 5000, budgetMs: 5_000 },
        () =>
          check(
            parseCertificateDer(der.leaf, 'leaf', cold),
            parseCertificateDer(der.inter, 'intermediate', cold),
            parseCertificateDer(der.root, 'root', cold),
          ),
      ),
    );
    results.push(
      await measure(
        'openssl req -x509 -CA (keygen + sign), per invocation',
        { warmup: 3, max: 100, budgetMs: 15_000 },
        () => openssl(opensslIssue),
      ),
    );
    results.push(
      await measure('openssl verify depth 3, per invocation', { warmup: 3, max: 100, budgetMs: 15_000 }, () =>
        openssl(opensslVerify),
      ),
    );
    await report(results);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function report(results: readonly Result[]): Promise<void> {
  const rows = results.map((r) => ({
    measurement: r.name,
    samples: r.samples,
    'median ms': round(r.medianMs, 3),
    'p90 ms': round(r.p90Ms, 3),
    'min ms': round(r.minMs, 3),
    target: r.targetMs === undefined ? '' : `≤ ${r.targetMs} ms`,
    met: r.targetMs === undefined ? '' : r.medianMs <= r.targetMs ? 'yes' : 'NO',
  }));
  console.table(rows);
  const byName = (prefix: string) => results.find((r) => r.name.startsWith(prefix))?.medianMs ?? Number.NaN;
  const ratios = {
    opensslIssueOverGatehouseIssue: round(byName('openssl req') / byName('gatehouse: issue'), 2),
    opensslVerifyOverGatehouseColdValidate: round(byName('openssl verify') / byName('gatehouse: cold'), 2),
  };
  console.log('ratios (openssl CLI ÷ gatehouse, medians):', ratios);
  console.log(
    `load average at start ${LOAD_AT_START.map((l) => l.toFixed(2)).join(' ')}, at end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const machine = machineFacts(null);
  const file = join(HERE, 'results', `pki-${timestampForFile()}.json`);
  const body = {
    benchmark: 'pki',
    date: new Date().toISOString(),
    git: gitFacts(join(HERE, '..')),
    machine: {
      node: machine.node,
      openssl: machine.openssl,
      cpuModel: machine.cpuModel,
      cores: machine.cores,
      kernel: machine.kernel,
      loadAverageAtStart: LOAD_AT_START.map((l) => round(l, 2)),
      loadAverageAtEnd: loadavg().map((l) => round(l, 2)),
    },
    opensslCli: execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim(),
    results: results.map((r) => ({
      ...r,
      medianMs: round(r.medianMs, 4),
      p90Ms: round(r.p90Ms, 4),
      minMs: round(r.minMs, 4),
    })),
    ratios,
  };
  if (QUICK) return console.log('--quick: smoke run, no result file written');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(body, null, 2)}\n`);
  console.log(`wrote ${file}`);
}

await run();
