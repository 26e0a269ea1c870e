// Edge CA and server certificate: what the device listener presents.
export { type EdgeCa, type LoadEdgeCaOptions, loadEdgeCa } from './edge-ca.ts';
export { isRenewalDue, renewalTime, retryDelay } from './lifetime.ts';
export { type LoadTlsMaterialOptions, loadTlsMaterial, nextRenewalAt, type TlsMaterial } from './material.ts';
export { QUICKSTART_EDGE_CA, QUICKSTART_ROOT, QUICKSTART_ROOT_CN } from './quickstart.ts';
export { type CertificateRenewal, RenewalTimer, startCertificateRenewal } from './renewal.ts';
export {
  ensureServerCertificate,
  SERVER_CERT,
  type ServerCertOptions,
  type ServerCredential,
} from './server-cert.ts';
