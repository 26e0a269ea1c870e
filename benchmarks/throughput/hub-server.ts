/**
 * The mock IoT Hub as the far end of the throughput benchmark, in its own process. It registers the
 * devices it is given and, when asked, reads back what it stored to time the arrivals.
 */
import { type HubHandle, startHub } from '../../src/hub/index.ts';
import { fromParent, toParent } from '../lib/child.ts';
import { percentile } from '../lib/stats.ts';
import type { HubInit } from './protocol.ts';

let hub: HubHandle | undefined;

/** Messages whose sensor send time falls in [from, to), and their latency to the hub's receivedAt. */
async function arrivals(
  from: number,
  to: number,
): Promise<{ count: number; p50: number; p99: number; spanMs: number }> {
  const admin = (hub as HubHandle).admin;
  const latencies: number[] = [];
  let first = Number.POSITIVE_INFINITY;
  let lastArrival = Number.NEGATIVE_INFINITY;
  let after = 0;
  // Bounded: pages of 1000 until a short page; the hub keeps at most 200 000 messages.
  for (let page = 0; page < 1000; page++) {
    const rows = await admin.messages({ after, limit: 1000 });
    for (const m of rows) {
      const sentAt = (JSON.parse(Buffer.from(m.payload, 'base64').toString('utf8')) as { s: number }).s;
      if (sentAt < from || sentAt >= to) continue;
      const receivedAt = Date.parse(m.receivedAt);
      latencies.push(receivedAt - sentAt);
      first = Math.min(first, receivedAt);
      lastArrival = Math.max(lastArrival, receivedAt);
    }
    const last = rows.at(-1);
    if (!last || rows.length < 1000) break;
    after = last.seq;
  }
  return {
    count: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    // How long the hub took to take in what the sensors sent in the window: its own intake rate.
    spanMs: lastArrival - first,
  };
}

fromParent(async (message) => {
  switch (message.type) {
    case 'init': {
      const init = message.init as HubInit;
      hub = await startHub({ dataDir: init.dataDir, host: init.host, mqttPort: 0, apiPort: 0 });
      for (const d of init.devices) await hub.admin.addDevice(d);
      toParent({ type: 'ready', id: message.id, mqttPort: hub.mqttPort, rootCaPem: hub.rootCaPem });
      break;
    }
    case 'arrivals': {
      const result = await arrivals(message.from as number, message.to as number);
      toParent({ type: 'arrivals', id: message.id, ...result });
      break;
    }
    case 'close': {
      await hub?.close();
      toParent({ type: 'closed', id: message.id });
      process.exit(0);
    }
  }
});
toParent({ type: 'loaded' });
