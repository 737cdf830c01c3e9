import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { FakeBehaviour, FakeState } from '../fakes/fake-a1111.js';
import type { FakeA1111ProcessOptions } from '../fakes/fake-a1111-main.js';

// Real processes for fault-injection tests: fake A1111s, the HTTP service, workers (and redis-server, see
// redis.ts). Each is ready when its output says so, never after a guessed sleep.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FAKE_MAIN = fileURLToPath(new URL('../fakes/fake-a1111-main.ts', import.meta.url));
const SERVER = fileURLToPath(new URL('../../src/server.ts', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const STOP_TIMEOUT_MS = 30_000;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Stopped extends Exit {
  /** From sending the signal to the exit. */
  readonly ms: number;
}

export interface Launched {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  readonly exited: Promise<Exit>;
  /** What `ready` matched. */
  readonly ready: RegExpExecArray;
}

// A safety net for tests that fail or forget to stop a child: children do not keep the test process alive
// (see `launch`), and whatever still runs when it exits is killed. A test process killed by a signal
// (tap's timeout) gets no 'exit' event, so its children survive it.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Spawns `command` in the repository root; resolves once its output matches `ready`, else rejects with the output and kills it. */
export async function launch(what: string, command: string, args: string[], ready: RegExp, timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<Launched> {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  // Whoever waits on a child holds a deadline timer (readiness, stopProcess) or calls keepAlive.
  child.unref();
  for (const pipe of [child.stdout, child.stderr]) (pipe as Socket).unref();
  let output = '';
  const exited = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  void exited.then(() => running.delete(child));
  const match = new Promise<RegExpExecArray>((resolve, reject) => {
    const collect = (chunk: Buffer): void => {
      output += chunk.toString();
      const found = ready.exec(output);
      if (found) resolve(found);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('error', (error) => reject(new Error(`${what} did not start: ${error.message}`)));
    void exited.then(({ code, signal }) => reject(new Error(`${what} exited (${signal ?? code}) before it was ready:\n${output}`)));
  });
  try {
    return { child, output: () => output, exited, ready: await withDeadline(match, timeoutMs, () => `${what} not ready after ${timeoutMs} ms:\n${output}`) };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

/** Sends `signal` and waits for the exit; a process still there after 30 s is killed and reported. */
export async function stopProcess(launched: Launched, signal: NodeJS.Signals = 'SIGTERM'): Promise<Stopped> {
  const sent = performance.now();
  launched.child.kill(signal);
  try {
    const exit = await withDeadline(launched.exited, STOP_TIMEOUT_MS, () => `still running ${STOP_TIMEOUT_MS} ms after ${signal}:\n${launched.output()}`);
    return { ...exit, ms: Math.round(performance.now() - sent) };
  } catch (error) {
    launched.child.kill('SIGKILL');
    throw error;
  }
}

export interface FakeA1111Process {
  readonly url: string;
  readonly port: number;
  /** The current process; `restart()` replaces it. */
  readonly child: ChildProcess;
  /** The current process's exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** Merges into the running fake's behaviour; `undefined` restores a field's default. */
  setBehaviour(partial: Partial<FakeBehaviour>): Promise<void>;
  state(): Promise<FakeState>;
  /** Resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** A fresh process (fresh state, the original options) on the same port, after killing the current one if it still runs. */
  restart(): Promise<void>;
}

/** A fake A1111 in its own process (test/fakes/fake-a1111-main.ts), steered over its /__fake routes. */
export async function startFakeA1111Process(options: FakeA1111ProcessOptions = {}): Promise<FakeA1111Process> {
  const spawnFake = (port: number): Promise<Launched> => launchTs('fake A1111', FAKE_MAIN, [], /fake-a1111 listening on (http:\/\/127\.0\.0\.1:(\d+))/, 20_000, {
    FAKE_A1111_OPTIONS: JSON.stringify({ ...options, port }),
  });
  let current = await spawnFake(options.port ?? 0);
  const url = current.ready[1]!;
  const port = Number(current.ready[2]);
  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    await stopProcess(current, signal);
  };
  return {
    url, port,
    get child() { return current.child; },
    get exited() {
      keepAlive(current.child);
      return current.exited.then((exit) => exit.code);
    },
    async setBehaviour(partial) {
      // JSON drops undefined fields; null carries "restore the default" to the fake.
      await control(`${url}/__fake/behaviour`, JSON.stringify(partial, (_key, value: unknown) => value ?? null));
    },
    state: async () => (await control(`${url}/__fake/state`)) as FakeState,
    kill,
    async restart() {
      await kill();
      current = await spawnFake(port);
    },
  };
}

export interface RunningProcess {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Sends `signal` (SIGTERM unless told) and resolves on exit. */
  stop(signal?: NodeJS.Signals): Promise<Stopped>;
}

export interface ServiceProcess extends RunningProcess {
  readonly url: string;
}

/** The HTTP service (src/server.ts) on a random loopback port; `env` configures it. */
export async function startServiceProcess(env: Record<string, string>): Promise<ServiceProcess> {
  const launched = await launchTs('service', SERVER, [], /Server listening at (http:\/\/[^\s"]+)/, 30_000, { HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env });
  return { url: launched.ready[1]!, ...stoppable(launched) };
}

/** `latent-upscale worker` in its own process; resolves once it takes jobs. */
export async function startWorkerProcess(env: Record<string, string>): Promise<RunningProcess> {
  return stoppable(await launchTs('worker', CLI, ['worker'], /worker: taking \w+ jobs/, 30_000, env));
}

/** A TypeScript entry of this repository under node, with `env` over the test's own environment. */
function launchTs(what: string, entry: string, args: string[], ready: RegExp, timeoutMs: number, env: Record<string, string>): Promise<Launched> {
  return launch(what, process.execPath, ['--import', 'tsx', entry, ...args], ready, timeoutMs, { ...process.env, ...env });
}

/** Holds the test process open until `child` has exited (launch left it unreferenced). */
function keepAlive(child: ChildProcess): void {
  child.ref();
  for (const pipe of [child.stdout, child.stderr]) (pipe as Socket).ref();
}

function stoppable(launched: Launched): RunningProcess {
  return { child: launched.child, output: launched.output, stop: (signal) => stopProcess(launched, signal) };
}

async function control(url: string, body?: string): Promise<unknown> {
  const response = await request(url, body === undefined ? {} : { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const answer = await response.body.json();
  if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}: ${JSON.stringify(answer)}`);
  return answer;
}

function withDeadline<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message())), ms)));
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
