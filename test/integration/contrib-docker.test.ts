import { expect } from 'chai';
import { Add, Arg, Cmd, Copy, DockerfileParser, Entrypoint, Env, From, Healthcheck, Run, User, Volume, Workdir, type Dockerfile, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPOSITORY, cleanEnv } from '../helpers/packaging.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const run = promisify(execFile);
const DOCKERFILE = path.join(REPOSITORY, 'contrib', 'docker', 'Dockerfile');
const HEALTHCHECK = path.join(REPOSITORY, 'contrib', 'docker', 'healthcheck.mjs');
const DOCKERIGNORE = path.join(REPOSITORY, '.dockerignore');

/** A Node 20 slim image of an exact release (optionally by digest): `node:20.20.2-bookworm-slim`. */
const PINNED_NODE_20_SLIM = /^node:20\.\d+\.\d+-(bookworm|bullseye|trixie)-slim(@sha256:[0-9a-f]{64})?$/;
/** Names of settings that hold a secret: a passphrase, a PIN, a password, a token, a credential, a key. */
const SECRET_NAME = /PASSPHRASE|PIN|PASSWORD|SECRET|TOKEN|CREDENTIAL|AUTH|_KEY$/;
/** A value that looks like key material or a token: 20 or more base64 or hex characters in a row. */
const SECRET_VALUE = /[A-Za-z0-9+=]{20,}/;

type Stage = Instruction[];

/** The Dockerfile's instructions by stage (a FROM first), as dockerfile-ast parses them. */
function stages(dockerfile: Dockerfile): Stage[] {
  const result: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction instanceof From) result.push([]);
    result.at(-1)!.push(instruction);
  }
  return result;
}

function ofKind<T extends Instruction>(stage: Stage, kind: abstract new (...args: never[]) => T): T[] {
  return stage.filter((instruction): instruction is T => instruction instanceof kind);
}

/** The words of an instruction, flags left out. */
function words(instruction: Instruction): string[] {
  return instruction.getArguments().map((argument) => argument.getValue());
}

/** `[name, value]` of every ENV and ARG setting. */
function settings(stage: Stage): [string, string][] {
  return [
    ...ofKind(stage, Env).flatMap((env) => env.getProperties()),
    ...ofKind(stage, Arg).flatMap((arg) => arg.getProperty() ?? []),
  ].map((property) => [property.getName(), property.getUnescapedValue() ?? '']);
}

/** What the RUN instructions of a stage run, one instruction a line. */
function runs(stage: Stage): string {
  return ofKind(stage, Run).map((run) => run.getArgumentsContent() ?? '').join('\n');
}

/** Sources of the COPY and ADD instructions that take them from the build context (not another stage). */
function contextSources(all: Stage): string[] {
  return [...ofKind(all, Copy).filter((copy) => copy.getFromFlag() === null), ...ofKind(all, Add)]
    .flatMap((instruction) => words(instruction).slice(0, -1))
    .map((source) => source.replace(/^\.\//, '').replace(/\/$/, ''));
}

describe('contrib/docker/Dockerfile', () => {
  // hadolint would check more, but Debian bookworm does not package it and no other registry
  // is reachable here: dockerfile-utils (the Docker language server's linter) checks the syntax
  // and flags, and the tests below check what this image promises.
  let text: string;
  let dockerfile: Dockerfile;
  let all: Stage;
  let build: Stage;
  let final: Stage;

  before(() => {
    text = readFileSync(DOCKERFILE, 'utf8');
    dockerfile = DockerfileParser.parse(text);
    all = dockerfile.getInstructions();
    [build, final] = stages(dockerfile) as [Stage, Stage];
  });

  it('is valid for dockerfile-utils\' linter', () => {
    expect(validate(text).map((problem) => `line ${problem.range.start.line + 1}: ${problem.message}`)).to.deep.equal([]);
  });

  it('builds in two stages from an exact Node 20 slim image', () => {
    expect(stages(dockerfile)).to.have.length(2);
    const [buildFrom, finalFrom] = [ofKind(build, From)[0]!, ofKind(final, From)[0]!];
    expect(buildFrom.getBuildStage()).to.equal('build');
    for (const from of [buildFrom, finalFrom]) {
      const digest = from.getImageDigest();
      expect(`${from.getImageName()}:${from.getImageTag()}${digest ? `@${digest}` : ''}`).to.match(PINNED_NODE_20_SLIM);
    }
  });

  it('keeps the compilers and the dependency install in the build stage', () => {
    expect(runs(build)).to.match(/apt-get install .*\bg\+\+ make python3\b/);
    expect(runs(build)).to.match(/npm ci\b/);
    expect(runs(final)).to.not.match(/apt-get|g\+\+|\bmake\b|python3|npm (ci|install)/);
  });

  it('runs as a user that is not root', () => {
    const users = ofKind(final, User).map((user) => words(user).join(' '));
    expect(users).to.have.length.greaterThan(0);
    const user = users.at(-1)!;
    expect(user).to.not.match(/^(root|0)(:|$)/);
    // The same id as the user made for it, so that the data directory belongs to it.
    const created = /useradd [^\n]*--uid (\d+)/.exec(runs(final));
    expect(created, 'useradd --uid in the final stage').to.not.equal(null);
    expect(user.split(':')[0]).to.equal(created![1]);
  });

  it('keeps the data directory in a volume owned by that user', () => {
    const dataDir = Object.fromEntries(settings(final)).KEYHOLD_DATA_DIR;
    expect(dataDir).to.be.a('string');
    expect(ofKind(final, Volume).map((volume) => volume.getArgumentsContent())).to.deep.equal([JSON.stringify([dataDir])]);
    expect(runs(final)).to.include(`install -d -m 0700 -o keyhold -g keyhold ${dataDir}`);
  });

  it('checks its health with GET /healthz through node, as the slim image has no curl', () => {
    const checks = ofKind(final, Healthcheck);
    expect(checks).to.have.length(1);
    expect(checks[0]!.getSubcommand()?.getValue()).to.equal('CMD');
    expect(checks[0]!.getArgumentsContent()).to.match(/^CMD \["node", "\/app\/healthcheck\.mjs"\]$/);
    expect(ofKind(final, Workdir).map((workdir) => workdir.getArgumentsContent())).to.deep.equal(['/app']);
    expect(ofKind(final, Copy).map((copy) => words(copy))).to.deep.include(['contrib/docker/healthcheck.mjs', './']);
    expect(all.map((instruction) => instruction.getArgumentsContent() ?? '').join('\n')).to.not.match(/\b(curl|wget)\b/);
  });

  it('bakes in no secret: no secret-looking setting or value, production mode on', () => {
    const configured = settings(all);
    expect(configured.length).to.be.greaterThan(0);
    expect(configured.filter(([name]) => SECRET_NAME.test(name))).to.deep.equal([]);
    expect(configured.filter(([, value]) => SECRET_VALUE.test(value))).to.deep.equal([]);
    expect(Object.fromEntries(settings(final))).to.include({ NODE_ENV: 'production' });
  });

  it('starts the keyhold command (exec form), the server by default', () => {
    const jsonOf = (instruction: Entrypoint | Cmd) => instruction.getJSONStrings().map((argument) => argument.getJSONValue());
    expect(ofKind(final, Entrypoint).map(jsonOf)).to.deep.equal([['node', '/app/bin/keyhold.js']]);
    expect(ofKind(final, Cmd).map(jsonOf)).to.deep.equal([['server']]);
  });

  it('.dockerignore sends the builder only what the Dockerfile copies', () => {
    const lines = readFileSync(DOCKERIGNORE, 'utf8').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
    expect(lines[0]).to.equal('*');
    const allowed = lines.slice(1);
    expect(allowed.every((line) => line.startsWith('!')), allowed.join(' ')).to.equal(true);
    expect(allowed.map((line) => line.slice(1)).sort()).to.deep.equal([...new Set(contextSources(all))].sort());
    expect(allowed.filter((line) => /\.env|data|credentials|passphrase|softhsm|node_modules|dist/.test(line))).to.deep.equal([]);
  });
});

describe('contrib/docker/healthcheck.mjs', function () {
  this.timeout(120_000);

  let temp: { path: string; remove(): void };
  let server: ServerProcess;

  before(async () => {
    temp = makeTempDir('keyhold-healthcheck-');
    server = await startServerProcess({}, temp.path);
  });

  after(async () => {
    await server?.stop();
    temp?.remove();
  });

  /** Runs the check as the image does, with the container's settings; resolves its exit code. */
  async function healthcheck(port: number, host = '0.0.0.0'): Promise<number> {
    try {
      await run(process.execPath, [HEALTHCHECK], { env: cleanEnv({ KEYHOLD_HOST: host, KEYHOLD_PORT: String(port) }), timeout: 30_000 });
      return 0;
    } catch (error) {
      return (error as { code?: number }).code ?? -1;
    }
  }

  it('exits 0 when the server answers /healthz', async () => {
    expect(await healthcheck(server.port)).to.equal(0);
    expect(await healthcheck(server.port, '127.0.0.1')).to.equal(0);
  });

  it('exits 1 when nothing listens', async () => {
    const closed = net.createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    closed.close();
    await once(closed, 'close');
    expect(await healthcheck(port)).to.equal(1);
  });

  it('exits 1, within its time limit, when the port accepts but never answers', async () => {
    const silent = net.createServer(() => undefined).listen(0, '127.0.0.1');
    await once(silent, 'listening');
    try {
      const started = Date.now();
      expect(await healthcheck((silent.address() as AddressInfo).port)).to.equal(1);
      expect(Date.now() - started).to.be.below(8_000);
    } finally {
      silent.close();
    }
  });

  it('exits 1 when /healthz answers 503', async () => {
    const dataDir = path.join(temp.path, 'data');
    const unhealthy = https
      .createServer({ cert: readFileSync(path.join(dataDir, 'tls-cert.pem')), key: readFileSync(path.join(dataDir, 'tls-key.pem')) }, (request, response) => {
        response.writeHead(request.url === '/healthz' ? 503 : 404, { 'Content-Type': 'application/json' }).end('{"status":"sealed"}');
      })
      .listen(0, '127.0.0.1');
    await once(unhealthy, 'listening');
    try {
      expect(await healthcheck((unhealthy.address() as AddressInfo).port)).to.equal(1);
    } finally {
      unhealthy.close();
    }
  });
});
