import path from 'node:path';
import { makeTempDir } from '/work/wt-killnine/test/helpers/temp-dir.js';
import { startServer, killPrimary } from '/work/wt-killnine/test/helpers/kill-nine/server-life.js';
import { runLoad } from '/work/wt-killnine/test/helpers/kill-nine/load.js';
import { Ledger } from '/work/wt-killnine/test/helpers/kill-nine/ledger.js';
import { Prng } from '/work/wt-killnine/test/helpers/kill-nine/prng.js';
it('latency', async function () {
  this.timeout(300000);
  const dir = makeTempDir('lat-');
  const settings = { dataDir: path.join(dir.path, 'data'), cwd: dir.path, passphrase: 'kill-nine test passphrase, long enough', workers: 2 };
  const live = await startServer(settings);
  console.log('start', live.startMs);
  const ledger = new Ledger();
  const t = Date.now();
  const orig = live.client.call.bind(live.client);
  (live.client as any).call = async (a: string, b: object) => { const s = Date.now(); try { return await orig(a, b); } finally { const d = Date.now() - s; if (d > 500) console.log('slow', a, d, Date.now() - t); } };
  const findings: any[] = [];
  await runLoad({ client: live.client, ledger, prng: new Prng(5), round: 1, findings, stop: () => Date.now() - t > 8000 }, 6);
  console.log('acked', ledger.acknowledged, findings.slice(0, 5));
  console.log(live.server.stdout().split('\n').filter((l) => !l.includes('"request"') && l.includes('"level":5')).slice(0, 10).join('\n'));
  for (let i = 0; i < 3; i++) {
    const l = i === 0 ? live : await startServer(settings);
    const t2 = Date.now();
    let stop = false;
    const load = runLoad({ client: l.client, ledger, prng: new Prng(5 + i), round: 2, findings, stop: () => stop }, 6);
    await new Promise((r) => setTimeout(r, 500));
    const t3 = Date.now();
    await killPrimary(l);
    console.log('kill took', Date.now() - t3);
    stop = true;
    await load;
    console.log('load drained', Date.now() - t3);
  }
  dir.remove();
});
