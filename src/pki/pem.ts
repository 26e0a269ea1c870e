import { GatehouseError } from '../errors.ts';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----/g;

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

/** Splits a PEM text into its blocks. Throws GH_ERR_PEM when there is none or a block is damaged. */
export function decodePem(text: string, what = 'PEM input'): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(PEM_BLOCK)) {
    const body = (match[2] ?? '').replace(/\s+/g, '');
    const der = Buffer.from(body, 'base64');
    if (der.length === 0 || der.toString('base64').replace(/=+$/, '') !== body.replace(/=+$/, '')) {
      throw new GatehouseError('GH_ERR_PEM', `${what}: a ${match[1]} block is not valid base64`);
    }
    blocks.push({ label: match[1] ?? '', der });
  }
  if (blocks.length === 0) throw new GatehouseError('GH_ERR_PEM', `${what}: no PEM block found`);
  return blocks;
}

/** The DER of every CERTIFICATE block, in order. */
export function decodeCertificatesPem(text: string, what = 'certificate file'): Buffer[] {
  const certs = decodePem(text, what).filter((b) => b.label === 'CERTIFICATE');
  if (certs.length === 0) throw new GatehouseError('GH_ERR_PEM', `${what}: no CERTIFICATE block found`);
  return certs.map((b) => b.der);
}

export function encodePem(label: string, der: Uint8Array | ArrayBuffer): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
