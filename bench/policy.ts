/**
 * Issue 14: what one policy decision costs on the hot path. Compiles a typical two-statement
 * policy (DESIGN.md's example) and a 100-statement one, then times `allows` for requests that
 * are allowed, denied by a Deny and denied for want of an Allow. Prints ns per call.
 *
 *   node --import tsx bench/policy.ts [iterations, default 1000000]
 */
import { compilePolicy, type CompiledPolicy, type PolicyRequest } from '../src/auth/policy.js';

const iterations = Number(process.argv[2] ?? 1_000_000);
const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';

const typical = compilePolicy({
  Statement: [
    {
      Sid: 'orders', Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey*'], Resource: 'alias/orders',
      Condition: { StringEquals: { 'kms:EncryptionContext:table': 'orders' } },
    },
    { Effect: 'Deny', Action: 'kms:*', Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/env': 'prod' } } },
  ],
});

// 99 statements about other keys and aliases (about 13 KiB), then the one that allows: the worst place for it.
const hundred = compilePolicy({
  Statement: [
    ...Array.from({ length: 99 }, (_, index) => ({
      Effect: 'Allow', Action: 'kms:Encrypt',
      Resource: [`key/${index.toString(16).padStart(2, '0')}*`, `alias/t${index}-*`],
      Condition: { StringLike: { 'kms:EncryptionContext:t': `t${index}*` } },
    })),
    { Effect: 'Allow', Action: 'kms:Encrypt', Resource: 'alias/orders' },
  ],
});

function request(aliases: string[], tags: Record<string, string>, context: Record<string, string>): PolicyRequest {
  return {
    action: { prefix: 'kms', name: 'Encrypt' },
    resource: { keyId: KEY, aliases, tags: new Map(Object.entries(tags)) },
    encryptionContext: context,
  };
}

const allowed = request(['alias/orders'], { env: 'test' }, { table: 'orders' });
const deniedByDeny = request(['alias/orders'], { env: 'prod' }, { table: 'orders' });
const noAllow = request(['alias/billing'], {}, { table: 'orders' });

/** Wall and CPU ns per call: on a shared machine the CPU figure is the steadier one. */
function nsPerCall(policy: CompiledPolicy, input: PolicyRequest, expected: boolean): [wall: number, cpu: number] {
  for (let index = 0; index < 100_000; index++) policy.allows(input); // warm-up for the JIT
  let wrong = 0;
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let index = 0; index < iterations; index++) {
    if (policy.allows(input) !== expected) wrong++;
  }
  const elapsed = Number(process.hrtime.bigint() - started);
  const cpu = process.cpuUsage(cpuBefore);
  if (wrong > 0) throw new Error(`allows() gave the wrong answer ${wrong} times`);
  return [elapsed / iterations, ((cpu.user + cpu.system) * 1000) / iterations];
}

function compileMicroseconds(document: object): number {
  const runs = 200;
  const started = process.hrtime.bigint();
  for (let index = 0; index < runs; index++) compilePolicy(document);
  return Number(process.hrtime.bigint() - started) / runs / 1000;
}

const rows: [string, CompiledPolicy, PolicyRequest, boolean][] = [
  ['typical (2 statements), allowed', typical, allowed, true],
  ['typical (2 statements), denied by its Deny', typical, deniedByDeny, false],
  ['typical (2 statements), no Allow matches', typical, noAllow, false],
  ['100 statements, allowed by the last', hundred, allowed, true],
  ['100 statements, no Allow matches', hundred, noAllow, false],
];
console.log(`| policy.allows(), ${iterations.toLocaleString('en')} calls each | wall ns per call | CPU ns per call |`);
console.log('|---|---:|---:|');
for (const [name, policy, input, expected] of rows) {
  const [wall, cpu] = nsPerCall(policy, input, expected);
  console.log(`| ${name} | ${wall.toFixed(0)} | ${cpu.toFixed(0)} |`);
}
console.log(`\ncompilePolicy (wall, mean of 200): typical ${compileMicroseconds(typical.document).toFixed(0)} µs, 100 statements ${compileMicroseconds(hundred.document).toFixed(0)} µs`);
