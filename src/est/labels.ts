/** RFC 7030 §3.2.2 CA label under which an IoT Edge device enrolls its Edge CA. */
export const EDGE_CA_LABEL = 'edge-ca';

/** The CN of an Edge CA enrolled over EST (shared by hub and gateway, so both check the same name). */
export function edgeCaCommonName(deviceId: string): string {
  return `Edge CA ${deviceId}`;
}
