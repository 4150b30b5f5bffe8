/**
 * The baseline: a bare node:https server, one process, that reads a JSON body, parses it
 * and answers a small JSON. Keyhold's throughput is reported as a ratio to this server's,
 * measured in the same run with the same certificate, body and load generator.
 *
 * Run by bench/processes.ts with BASELINE_CERT and BASELINE_KEY; prints "listening on <port>".
 */
import { serveBare } from './bare-server.js';

const answer = (body: string) => JSON.stringify({ ok: true, bytes: body.length });

serveBare((_req, res, bytes) => {
  const body = bytes.toString('utf8');
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
