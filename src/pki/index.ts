// The PKI's public surface: other modules import from here, not from the files behind it.
export * from './certificate.ts';
export * from './demo-pki.ts';
export * from './inspect.ts';
export * from './issue.ts';
export * from './keys.ts';
export * from './pem.ts';
export * from './pkcs12.ts';
export * from './pki-dir.ts';
export * from './profiles.ts';
export * from './store.ts';
export * from './thumbprint.ts';
export * from './validate.ts';
