import { describe, expect, it } from 'vitest';
import { parsePropertyBag } from '../../../src/iothub/topics.ts';
import { parseCertificatePem } from '../../../src/pki/index.ts';
import { backoffDelay } from '../../../src/upstream/backoff.ts';
import { withMessageId } from '../../../src/upstream/message-id.ts';
import { checkIdentityValidity, classifyLinkError } from '../../../src/upstream/refusal.ts';
import { makeCred } from '../../helpers/pki.ts';

const id = () => 'fixed-id';
const bagOf = (topic: string) => parsePropertyBag(topic.split('/messages/events/')[1] ?? '');

describe('withMessageId', () => {
  it('adds %24.mid to an empty or bare property bag', () => {
    expect(withMessageId('devices/d1/messages/events/', id)).toBe(
      'devices/d1/messages/events/%24.mid=fixed-id',
    );
    expect(withMessageId('devices/d1/messages/events', id)).toBe(
      'devices/d1/messages/events/%24.mid=fixed-id',
    );
  });

  it('appends after existing properties, leaving them byte for byte', () => {
    const t = withMessageId('devices/d1/messages/events/a=1&b=%C2%B0', id);
    expect(t).toBe('devices/d1/messages/events/a=1&b=%C2%B0&%24.mid=fixed-id');
    expect(bagOf(t)).toEqual({ a: '1', b: '°', '$.mid': 'fixed-id' });
  });

  it('keeps a message id the device gave, in either spelling', () => {
    for (const t of [
      'devices/d1/messages/events/%24.mid=mine',
      'devices/d1/messages/events/x=1&$.mid=mine',
    ]) {
      expect(withMessageId(t, id)).toBe(t);
    }
  });

  it('leaves non-telemetry topics and undecodable bags alone', () => {
    expect(withMessageId('devices/d1/messages/devicebound/', id)).toBe('devices/d1/messages/devicebound/');
    expect(withMessageId('devices/d1/messages/events/a=%E0%A4%A', id)).toBe(
      'devices/d1/messages/events/a=%E0%A4%A',
    );
  });

  it('gives a fresh UUID by default', () => {
    const a = bagOf(withMessageId('devices/d1/messages/events/'))?.['$.mid'];
    const b = bagOf(withMessageId('devices/d1/messages/events/'))?.['$.mid'];
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });
});

describe('backoffDelay', () => {
  const opts = { minMs: 1000, maxMs: 60_000 };
  it('doubles from min and stops at max, with jitter in [nominal/2, nominal]', () => {
    expect(backoffDelay(0, opts, 0)).toBe(500);
    expect(backoffDelay(0, opts, 0.999999)).toBe(1000);
    expect(backoffDelay(3, opts, 1)).toBe(8000);
    expect(backoffDelay(10, opts, 1)).toBe(60_000);
    expect(backoffDelay(10, opts, 0)).toBe(30_000);
  });

  it('stays finite and bounded for absurd attempt counts and inputs', () => {
    expect(backoffDelay(1e9, opts, 1)).toBe(60_000);
    expect(backoffDelay(-5, opts, 1)).toBe(1000);
    expect(backoffDelay(2, { minMs: 0, maxMs: 0 }, 1)).toBe(1);
  });
});

describe('classifyLinkError', () => {
  it('CONNACK 4/5 (and 2) are refusals of our identity; 3 is an outage', () => {
    for (const code of [2, 4, 5]) {
      expect(classifyLinkError(Object.assign(new Error('Connection refused'), { code }))).toMatchObject({
        reason: 'not-authorized',
        refused: true,
      });
    }
    expect(classifyLinkError(Object.assign(new Error('Server unavailable'), { code: 3 }))).toMatchObject({
      reason: 'protocol',
      refused: false,
    });
  });

  it('TLS alerts about our certificate are refusals', () => {
    for (const code of [
      'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
      'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
      'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
      'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
    ]) {
      expect(classifyLinkError(Object.assign(new Error('alert'), { code }))).toMatchObject({
        reason: 'tls-refused',
        refused: true,
      });
    }
  });

  it('an upstream certificate we cannot verify is not a refusal of us', () => {
    for (const code of ['ERR_TLS_CERT_ALTNAME_INVALID', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED']) {
      expect(classifyLinkError(Object.assign(new Error('x'), { code }))).toMatchObject({
        reason: 'server-untrusted',
        refused: false,
      });
    }
  });

  it('anything else is an outage, including odd values', () => {
    expect(classifyLinkError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toMatchObject({
      reason: 'unreachable',
      refused: false,
    });
    expect(classifyLinkError(new Error('connack timeout')).reason).toBe('unreachable');
    expect(classifyLinkError(undefined).reason).toBe('unreachable');
    expect(classifyLinkError('boom').message).toBe('boom');
  });
});

describe('checkIdentityValidity', () => {
  it('refuses an expired or not-yet-valid identity at fixed times, accepts inside the window', async () => {
    const issued = new Date(Date.UTC(2025, 0, 1));
    const cred = await makeCred('self-signed-device', 'gw', undefined, { days: 10, now: issued });
    const leaf = parseCertificatePem(cred.cert.pem);
    expect(checkIdentityValidity(leaf, Date.UTC(2025, 0, 5))).toBeUndefined();
    expect(checkIdentityValidity(leaf, Date.UTC(2025, 1, 1))).toMatchObject({
      reason: 'identity-expired',
      refused: true,
    });
    expect(checkIdentityValidity(leaf, Date.UTC(2024, 0, 1))).toMatchObject({
      reason: 'identity-not-yet-valid',
      refused: true,
    });
  });
});
