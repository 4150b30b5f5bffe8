// The container's health check (the Dockerfile's HEALTHCHECK): GET /healthz of the Keyhold server
// in this container; exit 0 when it answers 200, 1 on anything else, within 4 seconds.
//
// The certificate is not checked: the request goes to this container's own loopback, carries
// nothing secret and reads only the status, and the server's certificate is self-signed by default
// or issued for a name that 127.0.0.1 is not.
import https from 'node:https';

const TIMEOUT_MS = 4_000;
const WILDCARD_HOSTS = new Map([['0.0.0.0', '127.0.0.1'], ['::', '::1']]);

const configuredHost = process.env.KEYHOLD_HOST || '127.0.0.1';
const host = WILDCARD_HOSTS.get(configuredHost) ?? configuredHost;
const port = Number(process.env.KEYHOLD_PORT || 8443);

function fail(reason) {
  process.stdout.write(`/healthz failed: ${reason}\n`);
  process.exit(1);
}

// One deadline for the whole check: connection, TLS handshake and answer.
setTimeout(() => fail(`no answer within ${TIMEOUT_MS} ms`), TIMEOUT_MS);
https
  .get({ host, port, path: '/healthz', rejectUnauthorized: false }, (response) => {
    response.resume();
    process.stdout.write(`/healthz answered ${response.statusCode}\n`);
    process.exit(response.statusCode === 200 ? 0 : 1);
  })
  .on('error', (error) => fail(error.message));
