import 'reflect-metadata';
// @peculiar/x509 resolves its internals through tsyringe, which needs the Reflect metadata polyfill loaded first.
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// @peculiar/x509 signs and verifies through a WebCrypto provider; Node's own is the native one.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { webcrypto, x509 };
