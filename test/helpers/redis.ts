import { spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { launch, startWorkerProcess, stopProcess, type Launched } from './processes.js';

export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** SIGKILL: gone at once, like a crashed server. */
  stop(): Promise<void>;
  /** Kills it and starts an empty one on the same port. */
  restart(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers. */
  freeze(): void;
  /** SIGCONT: answers again, including what was sent while frozen. */
  thaw(): void;
}

/** A throwaway redis-server on a free loopback port, no persistence; throws with its output if it is not ready within 10 s. */
export async function startRedis(): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRedisOn(await freePort());
    } catch (error) {
      // The free port can be taken between finding it and redis binding it: that, and only that, gets another port.
      if (attempt < 3 && /Address already in use/.test((error as Error).message)) continue;
      throw error;
    }
  }
}

async function startRedisOn(port: number): Promise<RedisServer> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'notice'];
  // Redis logs this line (at notice level) once it accepts connections, i.e. answers PING. Not ready within
  // 10 s, or exited first, is an error carrying its output (launch); never a silent give-up.
  const spawnRedis = (): Promise<Launched> => launch('redis-server', 'redis-server', args, /ready to accept connections/i, 10_000);
  let server = await spawnRedis();
  const stop = async (): Promise<void> => {
    await stopProcess(server, 'SIGKILL');
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    async restart() {
      await stop();
      server = await spawnRedis();
    },
    freeze: () => void server.child.kill('SIGSTOP'),
    thaw: () => void server.child.kill('SIGCONT'),
  };
}

/** `latent-upscale worker` in its own process; resolves once it takes jobs. */
export async function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  return (await startWorkerProcess(env)).child;
}
