// Shared by every server Gatehouse runs (hub, device listener, scope API, metrics): one wording for listen failures.
import type { Server } from 'node:net';
import { GatehouseError } from './errors.ts';

/** Listens, turning the usual failures into one clear error that names the port. */
export async function listenOn(server: Server, host: string, port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = `${what} port ${port} on ${host}`;
      if (err.code === 'EADDRINUSE') {
        reject(new GatehouseError('GH_ERR_ADDRESS_IN_USE', `${where} is already in use`, { cause: err }));
      } else if (err.code === 'EACCES') {
        reject(new GatehouseError('GH_ERR_CONFIG', `${where}: permission denied`, { cause: err }));
      } else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') {
        reject(new GatehouseError('GH_ERR_CONFIG', `${where}: no such local address`, { cause: err }));
      } else {
        reject(new GatehouseError('GH_ERR_INTERNAL', `${where}: ${err.message}`, { cause: err }));
      }
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
