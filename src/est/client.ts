import { isIP } from 'node:net';
import { GatehouseError } from '../errors.ts';
import { httpsExchange } from '../https-exchange.ts';
import type { CertInfo } from '../pki/index.ts';
import { decodeCertsOnly, isPkcs7Mime, MAX_EST_BODY_BYTES } from './pkcs7.ts';
import type { EnrollResponse } from './response.ts';

export interface EstClientOptions {
  /** `[cert_issuance.est] url`: `https://host:port/.well-known/est` (no trailing slash). */
  readonly url: string;
  /** PEM of the roots the EST server's chain must lead to (`trusted_certs`). */
  readonly trustPem: string;
  /** Whole-request deadline, ms. Default 15000. */
  readonly timeoutMs?: number;
}

/** The client certificate an enrollment is authenticated with: bootstrap or current identity. */
export interface EstClientAuth {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface EstClient {
  /** GET [/label]/cacerts: the EST CA certificates. */
  caCerts(label?: string): Promise<CertInfo[]>;
  /**
   * POST /simpleenroll or /simplereenroll with a base64 PKCS#10 body; the raw answer, for
   * checkEnrollResponse. `auth` undefined sends no client certificate (the server must refuse).
   */
  enroll(
    op: 'simpleenroll' | 'simplereenroll',
    csrBase64: string,
    auth: EstClientAuth | undefined,
    /** RFC 7030 §3.2.2 CA label, e.g. `edge-ca`; none = the default CA. */
    label?: string,
  ): Promise<EnrollResponse>;
}

/**
 * RFC 7030 over HTTPS. The server is verified against `trustPem` and the URL's host name (or IP);
 * enrollment presents the given client certificate (mutual TLS). Answers are bounded in size and time;
 * what they mean is decided by checkEnrollResponse, not here.
 */
export function createEstClient(opts: EstClientOptions): EstClient {
  const base = new URL(opts.url);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const host = base.hostname.replace(/^\[|\]$/g, '');

  const call = async (
    method: 'GET' | 'POST',
    op: string,
    body: string | undefined,
    auth: EstClientAuth | undefined,
  ): Promise<EnrollResponse> => {
    const res = await httpsExchange(
      {
        host,
        port: base.port === '' ? 443 : Number(base.port),
        path: `${base.pathname.replace(/\/+$/, '')}/${op}`,
        method,
        ca: opts.trustPem,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ...(auth ? { cert: auth.certPem, key: auth.keyPem } : {}),
        minVersion: 'TLSv1.2',
        agent: false,
        headers:
          body === undefined
            ? {}
            : { 'content-type': 'application/pkcs10', 'content-length': Buffer.byteLength(body) },
      },
      body,
      { what: `EST ${op}`, timeoutMs, maxBodyBytes: MAX_EST_BODY_BYTES },
    );
    return {
      status: res.status,
      contentType: res.headers['content-type'],
      body: res.body.toString('latin1'),
    };
  };

  return {
    async caCerts(label) {
      const res = await call('GET', labelled(label, 'cacerts'), undefined, undefined);
      if (res.status !== 200) throw new GatehouseError('GH_ERR_PROTOCOL', `EST cacerts: HTTP ${res.status}`);
      if (!isPkcs7Mime(res.contentType)) {
        throw new GatehouseError(
          'GH_ERR_PROTOCOL',
          `EST cacerts: content-type is "${res.contentType ?? 'none'}", not application/pkcs7-mime`,
        );
      }
      return decodeCertsOnly(res.body, 'EST cacerts');
    },
    enroll: (op, csrBase64, auth, label) => call('POST', labelled(label, op), csrBase64, auth),
  };
}

function labelled(label: string | undefined, op: string): string {
  return label === undefined ? op : `${encodeURIComponent(label)}/${op}`;
}
