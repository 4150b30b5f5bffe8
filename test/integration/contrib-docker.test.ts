import { expect } from 'chai';
import { Add, Arg, Cmd, Copy, DockerfileParser, Entrypoint, Env, From, Healthcheck, Run, User, Volume, Workdir, type Dockerfile, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPOSITORY, cleanEnv, copyRepository, listeningEntry, runCommand, startProgram, type StartedProgram } from '../helpers/packaging.js';
import { rememberSecret } from '../helpers/secrets.js';
import { TEST_WORKERS, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { testStoreEnv } from '../helpers/test-store.js';

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

/**
 * No image can be built here, so this assembles the final stage by hand: the sources compiled as
 * the build stage compiles them, then each `COPY` of the final stage carried out into a directory
 * that stands for /app (node_modules linked rather than copied), and the ENTRYPOINT and CMD run
 * with the image's ENV. It shows that what the image copies is enough to start the server in
 * production mode, and that the HEALTHCHECK command finds it healthy.
 */
describe('the image\'s final stage, assembled without docker', function () {
  this.timeout(300_000);

  let temp: { path: string; remove(): void };
  let app: string;
  let final: Stage;
  let server: StartedProgram | undefined;

  before(async () => {
    temp = makeTempDir('keyhold-image-');
    const dockerfile = DockerfileParser.parse(readFileSync(DOCKERFILE, 'utf8'));
    const [build, finalStage] = stages(dockerfile) as [Stage, Stage];
    final = finalStage;
    const buildDir = path.join(temp.path, 'build');
    copyRepository(buildDir);
    await runCommand('npx', ['tsc', '-p', '.'], { cwd: buildDir });
    // The build stage's console build (its type check, `tsc -p console`, is npm run build's too).
    expect(ofKind(build, Run).map((run) => run.getArgumentsContent() ?? '').join('\n')).to.include('node scripts/build-console.mjs');
    await runCommand(process.execPath, ['scripts/build-console.mjs'], { cwd: buildDir });

    const buildWorkdir = ofKind(build, Workdir).at(-1)!.getArgumentsContent()!;
    const appWorkdir = ofKind(final, Workdir).at(-1)!.getArgumentsContent()!;
    app = path.join(temp.path, 'app');
    mkdirSync(app);
    for (const copy of ofKind(final, Copy)) {
      const [source, destination] = words(copy) as [string, string];
      const from = copy.getFromFlag() === null ? path.join(REPOSITORY, source) : path.join(buildDir, path.relative(buildWorkdir, source));
      const target = destination.endsWith('/') && !source.endsWith('/') ? path.join(app, destination, path.basename(source)) : path.join(app, destination);
      if (path.basename(from) === 'node_modules') {
        symlinkSync(realpathSync(from), target.replace(/\/$/, ''));
      } else {
        cpSync(from, target, { recursive: true });
      }
    }
    expect(appWorkdir).to.equal('/app');
  });

  after(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    temp?.remove();
  });

  /** The image's path `/app/…` in the assembled directory. */
  const inApp = (imagePath: string) => imagePath.replace(/^\/app(?=\/|$)/, app);

  it('starts the server from ENTRYPOINT and CMD with the image\'s settings and a passphrase file', async () => {
    const jsonOf = (instruction: Entrypoint | Cmd) => instruction.getJSONStrings().map((argument) => argument.getJSONValue());
    const [program, ...entryArgs] = jsonOf(ofKind(final, Entrypoint)[0]!);
    const command = [...entryArgs, ...jsonOf(ofKind(final, Cmd)[0]!)].map(inApp);
    expect(program).to.equal('node');

    const imageEnv = Object.fromEntries(settings(final));
    const dataDir = path.join(temp.path, 'volume');
    mkdirSync(dataDir, { mode: 0o700 });
    const passphrase = 'the passphrase of the assembled image';
    rememberSecret(passphrase);
    const passphraseFile = path.join(temp.path, 'keyhold-passphrase');
    writeFileSync(passphraseFile, passphrase, { mode: 0o400 });
    const port = await freePort();
    server = startProgram(process.execPath, command, {
      cwd: app,
      env: cleanEnv({
        ...imageEnv,
        // What `docker run` would add: the volume's path stands in for /var/lib/keyhold, a free port
        // for 8443, and loopback for the container's own network (not every interface of this machine).
        KEYHOLD_HOST: '127.0.0.1',
        KEYHOLD_DATA_DIR: dataDir,
        KEYHOLD_PORT: String(port),
        KEYHOLD_PASSPHRASE_FILE: passphraseFile,
        KEYHOLD_WORKERS: TEST_WORKERS,
        ...testStoreEnv(dataDir),
      }),
    });
    const listening = await listeningEntry(server);
    expect(imageEnv).to.include({ NODE_ENV: 'production', KEYHOLD_HOST: '0.0.0.0' });
    expect(listening.url).to.equal(`https://127.0.0.1:${port}`);
    expect(server.stdout()).to.not.include('DEVELOPMENT MODE');

    // The HEALTHCHECK's command, as docker would run it in the container.
    const check = /CMD (\[.*\])$/.exec(ofKind(final, Healthcheck)[0]!.getArgumentsContent()!)!;
    const [checkProgram, ...checkArgs] = (JSON.parse(check[1]!) as string[]).map(inApp);
    expect(checkProgram).to.equal('node');
    const { stdout } = await runCommand(process.execPath, checkArgs, { cwd: app, env: cleanEnv({ ...imageEnv, KEYHOLD_PORT: String(port) }) });
    expect(stdout).to.equal('/healthz answered 200\n');

    // The web console is in the image: /console/ serves its page, not "not built".
    const consolePage = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      https
        .get(`${listening.url}/console/`, { rejectUnauthorized: false }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
    expect(consolePage.status).to.equal(200);
    expect(consolePage.body).to.include('app.js');
  });

  it('stops on SIGTERM, as docker stop sends it', async () => {
    server!.child.kill('SIGTERM');
    expect(await server!.exited).to.equal(0);
  });
});

/** A TCP port free on 127.0.0.1 a moment ago. */
async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}
