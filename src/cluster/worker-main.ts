/**
 * The program a cluster worker runs (the primary forks it with this file as `exec`): it
 * receives what it needs from the primary and serves HTTPS. Not meant to be started by hand.
 */
import cluster from 'node:cluster';
import { runWorker } from './worker.js';

if (cluster.isPrimary) {
  process.stderr.write('keyhold: this is the program of a cluster worker; start the server with `npm start`\n');
  process.exit(2);
}
void runWorker();
