import { ConfigError, loadConfig } from '../../config.js';
import { UserError } from '../../errors.js';
import { createWorkerRuntime } from '../../setup.js';
import { parseCommandArgs } from '../options.js';
import type { Command } from './command.js';

export const workerCommand: Command = {
  name: 'worker',
  usage: 'worker   (configured like the service: REDIS_URL, BACKENDS, A1111_URLS, MODELS_DIR, WORKER_METRICS_PORT, …)',
  summary: 'take upscale jobs from Redis and run them on this machine\'s backends, until SIGTERM/SIGINT',
  example: 'REDIS_URL=redis://127.0.0.1:6379 MODELS_DIR=models latent-upscale worker',
  async run(args, io) {
    parseCommandArgs(args, {}, []);
    let config;
    try {
      config = loadConfig(process.env);
    } catch (error) {
      throw error instanceof ConfigError ? new UserError(error.message, 'INVALID_ARGUMENT') : error;
    }
    const redisUrl = config.redisUrl;
    if (redisUrl === undefined) throw new UserError('worker needs REDIS_URL (the Redis the API nodes use)', 'INVALID_ARGUMENT');
    // Listening before anything starts: a signal during start-up stops the worker once it has started.
    const stopRequested = new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    const runtime = createWorkerRuntime({ ...config, redisUrl }, io.stderr);
    await runtime.start();
    await stopRequested;
    io.stderr(`worker: stopping: finishing the jobs in hand (handing back any still running after about ${config.workerLockMs / 1000} s)`);
    await runtime.shutdown();
    await runtime.close();
    io.stderr('worker: stopped');
  },
};
