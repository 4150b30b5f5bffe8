/**
 * What the baseline and the floor servers share: node:https with Keyhold's certificate
 * (BASELINE_CERT, BASELINE_KEY), the whole body read before the handler runs, "listening on
 * <port>" on stdout, a clean stop on SIGTERM. With `processes` above 1, that many node:cluster
 * workers share the port (round-robin, like Keyhold's HTTP workers); this process only forks.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export function serveBare(handle: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void, processes = 1): void {
  if (processes > 1 && cluster.isPrimary) {
    // Every worker listens on port 0, and node:cluster gives them all one port.
    const ports = Array.from({ length: processes }, () => new Promise<number>((resolve) => cluster.fork().once('message', resolve)));
    void Promise.all(ports).then(([port]) => process.stdout.write(`listening on ${port}\n`));
    process.once('SIGTERM', () => cluster.disconnect(() => process.exit(0)));
    return;
  }
  const server = https.createServer(
    { cert: readFileSync(process.env.BASELINE_CERT!), key: readFileSync(process.env.BASELINE_KEY!), minVersion: 'TLSv1.2' },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => handle(req, res, Buffer.concat(chunks)));
    },
  );
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    if (cluster.isWorker) process.send!(port);
    else process.stdout.write(`listening on ${port}\n`);
  });
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
