import type { UpscaleWork } from '../backends/backend.js';
import type { Job, JobEvent } from './job.js';

/**
 * Where jobs live: in this process (JobQueue) or in Redis, shared by API nodes and workers
 * (RedisJobStore). The routes only see this interface, so the HTTP API is the same in both modes.
 */
export interface JobStore {
  submit(backend: string, work: UpscaleWork, parameters: Record<string, unknown>): Promise<Job>;
  get(id: string): Promise<Job | undefined>;
  /** 1-based place in the waiting line, or undefined when not waiting. */
  position(job: Job): Promise<number | undefined>;
  cancel(job: Job): Promise<void>;
  /** Each event of the job until it ends; returns the unsubscribe function. */
  subscribe(job: Job, listener: (event: JobEvent) => void): () => void;
  settled(job: Job): Promise<Job>;
  /** Jobs waiting, jobs running, and whether a new one would be refused. */
  load(): Promise<{ readonly waiting: number; readonly running: number; readonly full: boolean }>;
  close(): Promise<void>;
}
