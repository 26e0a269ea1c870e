import { createServer, type Server } from 'node:http';
import { listenOn } from '../listen.ts';
import type { Logger } from '../logger.ts';
import type { Health } from './health.ts';
import type { BrokerMetrics } from './metrics.ts';

export interface MetricsServerOptions {
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
  readonly metrics: BrokerMetrics;
  readonly health: () => Health;
  readonly log: Logger;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** `GET /metrics` (Prometheus text) and `GET /health` (JSON); everything else 404, non-GET 405. */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/health') {
      const health = opts.health();
      res
        .writeHead(health.httpStatus, { 'content-type': 'application/json' })
        .end(JSON.stringify(health.body));
      return;
    }
    if (path === '/metrics') {
      opts.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.metrics.registry.contentType }).end(text),
        (err: unknown) => {
          opts.log.error({ err }, 'metrics collection failed');
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await listenOn(server, opts.host, opts.port, 'metrics');
  server.on('error', (err) => opts.log.error({ err }, 'metrics server error'));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : opts.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
