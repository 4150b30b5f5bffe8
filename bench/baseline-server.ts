/**
 * The baseline: a bare node:https server, one process, that reads a JSON body, parses it
 * and answers a small JSON. Keyhold's throughput is reported as a ratio to this server's,
 * measured in the same run with the same certificate, body and load generator.
 *
 * Run by bench/processes.ts with BASELINE_CERT and BASELINE_KEY; prints "listening on <port>".
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

const answer = (body: string) => JSON.stringify({ ok: true, bytes: body.length });

const server = https.createServer(
  { cert: readFileSync(process.env.BASELINE_CERT!), key: readFileSync(process.env.BASELINE_KEY!), minVersion: 'TLSv1.2' },
  (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        JSON.parse(body);
      } catch {
        res.writeHead(400).end();
        return;
      }
      const json = answer(body);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
      res.end(json);
    });
  },
);

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening on ${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
