/**
 * Reads a V8 .cpuprofile (node --cpu-prof) of the server and says where its time went: the
 * functions with the most self time, and the stages of a request (each sample charged to one
 * stage by the functions on its stack).
 *
 * `node --import tsx bench/profile-summary.ts <file.cpuprofile>` prints both.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  hitCount?: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

export interface TimeShare {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) samples. */
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  functions: TimeShare[];
  stages: TimeShare[];
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// The server runs compiled (dist/src/…); its files are named as their sources (src/…).
const fileOf = (frame: CallFrame) => frame.url.replace('file://', '').replace(ROOT, '').replace(/^dist\//, '');
const fromPackage = (frame: CallFrame, pattern: RegExp) => pattern.test(fileOf(frame));

/**
 * Request stages, by the functions that mark them. The "anywhere" ones count wherever they are
 * on a sample's stack, in this order, so that the encryption done inside a route handler counts
 * as encryption. The others are middleware or helpers that call into node, so there the
 * innermost frame decides: a setHeader called by helmet is helmet's. Heuristic: the names are
 * Keyhold's and its packages', and change with them; stages of the express route the actions
 * had before issue 7 (res.json, helmet, body-parser) stay, so older profiles still read.
 */
const STAGES: { name: string; anywhere: boolean; on: (frame: CallFrame) => boolean }[] = [
  { name: 'garbage collection', anywhere: true, on: (f) => f.functionName === '(garbage collector)' },
  { name: 'envelope encryption: HKDF, AES-GCM, random salt (encryptMessage)', anywhere: true, on: (f) => f.functionName === 'encryptMessage' },
  { name: 'envelope decryption (decryptMessage)', anywhere: true, on: (f) => f.functionName === 'decryptMessage' },
  { name: 'signature check: HMAC, body SHA-256, headers', anywhere: true, on: (f) => f.functionName === 'verifyRequestSignature' },
  { name: 'request validation: JSON, field names, zod, base64', anywhere: true, on: (f) => ['parseRequest', 'parseJson', 'normalizeFields'].includes(f.functionName) },
  { name: 'access log (pino)', anywhere: true, on: (f) => fromPackage(f, /node_modules\/(pino|@pinojs|sonic-boom)/) },
  {
    name: 'response: JSON answer, headers, TLS write',
    anywhere: true,
    on: (f) => f.functionName === 'writeJsonAnswer' || (f.functionName === 'json' && fromPackage(f, /express\/lib\/response/)),
  },
  { name: 'body reading (readBody; before #7 body-parser, raw-body)', anywhere: false, on: (f) => f.functionName === 'readBody' || fromPackage(f, /node_modules\/(body-parser|raw-body)\//) },
  { name: 'helmet headers (before #7)', anywhere: false, on: (f) => fromPackage(f, /node_modules\/helmet\//) },
  { name: 'express routing and middleware', anywhere: false, on: (f) => fromPackage(f, /node_modules\/(express|router)\//) },
  { name: 'key lookups and actions (src/kms, src/api/actions)', anywhere: false, on: (f) => fromPackage(f, /^src\/(kms|api\/actions)\//) },
  { name: 'Keyhold code elsewhere (src/)', anywhere: false, on: (f) => fromPackage(f, /^src\//) },
  { name: 'module loading at start', anywhere: false, on: (f) => fromPackage(f, /^node:internal\/modules\//) },
];
const NODE_CORE = 'node core: HTTP parsing, TLS, sockets, streams';

function location(frame: CallFrame): string {
  const file = fileOf(frame);
  return file ? `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}` : frame.functionName;
}

/** `stack` is innermost first. */
function stageOf(stack: CallFrame[]): string {
  const marked = STAGES.find((stage) => stage.anywhere && stack.some(stage.on));
  if (marked) return marked.name;
  for (const frame of stack) {
    const stage = STAGES.find((candidate) => !candidate.anywhere && candidate.on(frame));
    if (stage) return stage.name;
  }
  return NODE_CORE;
}

export function summarizeProfile(file: string, top = 10): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const msPerSample = totalMs / profile.samples.length;
  const parents = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node);

  const byFunction = new Map<string, number>();
  const byStage = new Map<string, number>();
  let idle = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    if (node.callFrame.functionName === '(idle)') {
      idle += hits;
      continue;
    }
    const stack: CallFrame[] = [];
    for (let at: ProfileNode | undefined = node; at; at = parents.get(at.id)) stack.push(at.callFrame);
    byFunction.set(location(node.callFrame), (byFunction.get(location(node.callFrame)) ?? 0) + hits);
    byStage.set(stageOf(stack), (byStage.get(stageOf(stack)) ?? 0) + hits);
  }
  const busy = profile.samples.length - idle;
  const ranked = (counts: Map<string, number>, limit: number) =>
    [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, hits]) => ({ name, ms: Math.round(hits * msPerSample), percent: (100 * hits) / busy }));
  return {
    totalMs: Math.round(totalMs),
    idleMs: Math.round(idle * msPerSample),
    functions: ranked(byFunction, top),
    stages: ranked(byStage, STAGES.length + 1),
  };
}

/** Prints the summary; with the number of answers the server gave, also the µs per answer. */
export function printProfile(summary: ProfileSummary, answers?: number): void {
  const perAnswer = (ms: number) => (answers ? `${((1000 * ms) / answers).toFixed(1).padStart(6)} µs  ` : '');
  const line = (share: TimeShare) =>
    console.log(`${share.percent.toFixed(1).padStart(5)} %  ${String(share.ms).padStart(6)} ms  ${perAnswer(share.ms)}${share.name}`);
  const busyMs = summary.totalMs - summary.idleMs;
  console.log(
    `profile: ${summary.totalMs} ms, idle ${summary.idleMs} ms` +
      (answers ? `; ${answers} answers, ${((1000 * busyMs) / answers).toFixed(1)} µs busy per answer (start-up included)` : '') +
      '; shares of the busy time',
  );
  console.log('self time by function:');
  summary.functions.forEach(line);
  console.log('by request stage (whole stack):');
  summary.stages.forEach(line);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  printProfile(summarizeProfile(process.argv[2]!, 15));
}
