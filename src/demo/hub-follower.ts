import type { HubAdminClient } from '../hub/index.ts';
import type { Narrator } from './narrator.ts';

/**
 * Polls the hub's message store and narrates what arrived, with the device it is for and the
 * connection it came through — the proof that telemetry reached the cloud via the gateway.
 */
export function followHub(
  admin: HubAdminClient,
  say: Narrator,
  onTelemetry: (deviceId: string) => Promise<void>,
): () => void {
  let after = 0;
  let stopped = false;
  let shown = 0;
  const tick = async (): Promise<void> => {
    const messages = await admin.messages({ after, limit: 100 });
    for (const m of messages) {
      after = m.seq;
      shown++;
      if (shown <= 6 || shown % 10 === 0) {
        const via = m.connectionDeviceId === m.deviceId ? 'directly' : `via ${m.connectionDeviceId}`;
        say.say('hub', `received from ${m.deviceId} ${via}: ${m.payloadText ?? `${m.payload.length} bytes`}`);
      }
      await onTelemetry(m.deviceId);
    }
  };
  const loop = async (): Promise<void> => {
    // Start after what earlier runs left in the hub, so only this run's traffic is narrated.
    for (let pages = 0; pages < 1000; pages++) {
      const old = await admin.messages({ after, limit: 1000 }).catch(() => []);
      const last = old[old.length - 1];
      if (!last) break;
      after = last.seq;
    }
    while (!stopped) {
      await tick().catch((err: Error) => say.say('hub', `cannot read messages: ${err.message}`));
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  void loop();
  return () => {
    stopped = true;
  };
}
