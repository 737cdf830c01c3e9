import { A1111Backend } from '../../backends/a1111/backend.js';
import { createBackends } from '../../backends/create.js';
import { ConfigError, loadConfig } from '../../config.js';
import { SessionPool } from '../../engine/session-pool.js';
import { UserError } from '../../errors.js';
import { startWorkers } from '../../jobs/redis/worker.js';
import { parseCommandArgs } from '../options.js';
import type { Command } from './command.js';

export const workerCommand: Command = {
  name: 'worker',
  usage: 'worker   (configured like the service: REDIS_URL, BACKENDS, A1111_URLS, MODELS_DIR, …)',
  summary: 'take upscale jobs from Redis and run them on this machine\'s backends, until SIGTERM/SIGINT',
  example: 'REDIS_URL=redis://127.0.0.1:6379 MODELS_DIR=models latent-upscale worker',
  async run(args, io) {
    parseCommandArgs(args, {}, []);
    let config;
    try {
      config = loadConfig(process.env);
    } catch (error) {
      throw error instanceof ConfigError ? new UserError(error.message) : error;
    }
    if (config.redisUrl === undefined) throw new UserError('worker needs REDIS_URL (the Redis the API nodes use)');
    const engine = new SessionPool({ providers: config.executionProviders, intraOpThreads: config.onnxIntraOpThreads });
    const backends = createBackends(config, engine, io.stderr);
    const workers = await startWorkers({
      redisUrl: config.redisUrl,
      backends,
      concurrency: (name) => {
        const backend = backends.get(name);
        return backend instanceof A1111Backend ? backend.instances.length : config.onnxConcurrency;
      },
      lockMs: config.workerLockMs,
      log: io.stderr,
    });
    await new Promise<void>((resolve) => {
      const stop = (): void => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    io.stderr('worker: finishing the jobs in hand, then stopping');
    await workers.close();
    await engine.release();
  },
};
