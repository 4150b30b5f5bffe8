// Preloaded with --import into a measured process: writes its peak RSS (KiB) on exit.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  if (process.env.KEYHOLD_BENCH_MAX_RSS_FILE) writeFileSync(process.env.KEYHOLD_BENCH_MAX_RSS_FILE, String(process.resourceUsage().maxRSS));
});
