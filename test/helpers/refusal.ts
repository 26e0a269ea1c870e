import type { MqttClient } from 'mqtt';

/** The CONNACK return code (or error code/message) of a refused connection; undefined when accepted. */
export async function refusalOf(connect: () => Promise<MqttClient>): Promise<number | string | undefined> {
  try {
    const c = await connect();
    await c.endAsync();
    return undefined;
  } catch (err) {
    return (err as { code?: number | string }).code ?? (err as Error).message;
  }
}
