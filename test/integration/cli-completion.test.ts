import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { runCli } from '../helpers/cli.js';
import { skipWithout } from '../helpers/commands.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function shell(program: string, args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(program, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `source`s the bash script, then completes each line as bash would: COMP_WORDS and COMP_CWORD set, the function called. */
function bashCompletions(script: string, lines: string[][]): string[] {
  const probe = [
    `source ${script}`,
    't() { COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _keyhold_completion; echo "${COMPREPLY[*]}"; }',
    ...lines.map((words) => `t ${words.map((word) => `'${word}'`).join(' ')}`),
  ].join('\n');
  const result = shell('bash', ['-c', probe]);
  expect(result.code, result.stderr).to.equal(0);
  return result.stdout.split('\n').slice(0, lines.length);
}

describe('keyhold --version and keyhold completion', function () {
  this.timeout(120_000);
  const dir = makeTempDir('keyhold-completion-');
  const scripts: Record<string, string> = {};

  before(async () => {
    for (const name of ['bash', 'zsh', 'fish']) {
      const result = await runCli(['completion', name], { cwd: dir.path });
      expect(result.code, result.stderr).to.equal(0);
      scripts[name] = path.join(dir.path, `keyhold.${name}`);
      writeFileSync(scripts[name]!, result.stdout);
    }
  });
  after(() => dir.remove());

  describe('--version', () => {
    it('prints the version of package.json and exits 0', async () => {
      const result = await runCli(['--version'], { cwd: dir.path });
      expect(result.code).to.equal(0);
      expect(result.stdout.toString()).to.equal(`${VERSION}\n`);
    });

    it('prints it from the built CLI too (dist/, as the installed command runs it)', async () => {
      // npm test builds dist/ before the suite runs.
      const built = spawn(process.execPath, [path.join(ROOT, 'bin/keyhold.js'), '--version'], { cwd: dir.path });
      let stdout = '';
      let stderr = '';
      built.stdout.on('data', (chunk) => (stdout += chunk));
      built.stderr.on('data', (chunk) => (stderr += chunk));
      const code = await new Promise((resolve) => built.once('close', resolve));
      expect(code, stderr).to.equal(0);
      expect(stdout).to.equal(`${VERSION}\n`);
    });
  });

  describe('completion', () => {
    it('refuses a shell it has no script for with a usage error (exit 2)', async () => {
      const result = await runCli(['completion', 'powershell'], { cwd: dir.path });
      expect(result.code).to.equal(2);
      expect(result.stderr).to.match(/UsageError: .*powershell/);
    });

    it('bash: the script parses (bash -n) and, sourced, registers keyhold (complete -p keyhold)', () => {
      expect(shell('bash', ['-n', scripts.bash!]).code).to.equal(0);
      const registered = shell('bash', ['-c', `source ${scripts.bash}; complete -p keyhold`]);
      expect(registered.code, registered.stderr).to.equal(0);
      expect(registered.stdout).to.match(/-F _keyhold_completion keyhold/);
    });

    it('bash: completes commands, subcommands, options and option values from the line so far', () => {
      const [top, create, rotation, output, spec, options, shells, unknown] = bashCompletions(scripts.bash!, [
        ['keyhold', 'cre'],
        ['keyhold', 'keys', 'cre'],
        ['keyhold', '--output', 'json', 'keys', 'rotation', ''],
        ['keyhold', 'aliases', 'list', '--output', ''],
        ['keyhold', 'keys', 'create', '--key-spec', 'ECC'],
        ['keyhold', 'keys', 'list', '--max'],
        ['keyhold', 'completion', ''],
        ['keyhold', 'nothing', ''],
      ]);
      expect(top).to.equal('credentials');
      expect(create).to.equal('create');
      expect(rotation).to.equal('enable disable status');
      expect(output).to.equal('json jsonl table text');
      expect(spec).to.equal('ECC_NIST_P256 ECC_NIST_P384');
      expect(options).to.equal('--max-items');
      expect(shells).to.equal('bash zsh fish');
      expect(unknown).to.equal('');
    });

    it('zsh: the script parses (zsh -n) and, sourced, registers keyhold through bashcompinit', function () {
      skipWithout(this, ['zsh']);
      expect(shell('zsh', ['-n', scripts.zsh!]).code).to.equal(0);
      const home = makeTempDir('keyhold-zsh-home-');
      try {
        // As bashcompinit calls it: in sh emulation (arrays from 0), zsh filtering by the prefix itself.
        const probe = `source ${scripts.zsh}; print -r -- $_comps[keyhold]
          emulate -L sh; setopt kshglob noshglob braceexpand
          COMP_WORDS=(keyhold keys rotation ''); COMP_CWORD=3; _keyhold_completion; echo "\${COMPREPLY[*]}"`;
        const result = shell('zsh', ['-c', probe], { HOME: home.path, ZDOTDIR: home.path });
        expect(result.code, result.stderr).to.equal(0);
        expect(result.stdout).to.equal('_bash_complete -o bashdefault -o default -F _keyhold_completion\nenable disable status\n');
      } finally {
        home.remove();
      }
    });

    it('fish: the script parses (fish -n) and, sourced, completes as fish asks it to (complete -C)', function () {
      skipWithout(this, ['fish']);
      expect(shell('fish', ['-n', scripts.fish!]).code).to.equal(0);
      const result = shell('fish', ['--no-config', '-c', `source ${scripts.fish}; complete -C 'keyhold keys cre'; complete -C 'keyhold --url x keys rotation '; complete -C 'keyhold keys create --key-spec ECC'`]);
      expect(result.code, result.stderr).to.equal(0);
      const names = result.stdout.trim().split('\n').map((line) => line.split('\t')[0]);
      expect(names).to.deep.equal(['create', 'disable', 'enable', 'status', 'ECC_NIST_P256', 'ECC_NIST_P384']);
    });
  });
});
