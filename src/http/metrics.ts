import client from 'prom-client';
import type { BackendSnapshot } from '../backends/backend.js';
import type { JobObserver } from '../jobs/runner.js';
import type { QueueLoad } from '../jobs/transport.js';

export interface MetricSources {
  /** What can run jobs; a failed read (Redis down) leaves the health series out. */
  readonly snapshots: () => Promise<readonly BackendSnapshot[]>;
  /** The job queue, where this process has one (API nodes); a failed read reports the store down. */
  readonly load?: () => Promise<QueueLoad>;
}

/**
 * Every Prometheus metric of one process, in its own registry (so test apps do not collide). Job
 * counters and stage timings are counted where jobs run (the API process, or each worker), so every
 * job is counted once however many API nodes there are.
 */
export class Metrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({ name: 'latent_upscale_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status_code'], registers: [this.registry] });
  readonly jobDuration = new client.Histogram({
    name: 'latent_upscale_job_duration_seconds', help: 'Job time by backend and stage (total, encode, upscale, sampling, decode)',
    labelNames: ['backend', 'stage'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers: [this.registry],
  });
  readonly jobs = new client.Counter({ name: 'latent_upscale_jobs_total', help: 'Finished jobs by backend and outcome', labelNames: ['backend', 'outcome'], registers: [this.registry] });
  readonly steps = new client.Counter({ name: 'latent_upscale_sampling_steps_total', help: 'Sampling steps run', labelNames: ['backend'], registers: [this.registry] });
  readonly stepsPerSecond = new client.Gauge({ name: 'latent_upscale_steps_per_second', help: 'Sampling speed of the last finished job', labelNames: ['backend'], registers: [this.registry] });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'latent_upscale_' });
  }

  /** Gauges read at scrape time from what this process can see. */
  track(sources: MetricSources): void {
    if (sources.load) this.queueGauges(sources.load);
    new client.Gauge({
      name: 'latent_upscale_backend_healthy', help: '1 when a backend unit (A1111 instance, ONNX model) is usable', labelNames: ['backend', 'target', 'worker'], registers: [this.registry],
      async collect() {
        this.reset();
        const snapshots = await sources.snapshots().catch(() => []);
        for (const snapshot of snapshots) {
          for (const unit of snapshot.units) this.set({ backend: snapshot.backend, target: unit.target, worker: unit.worker ?? '' }, unit.healthy ? 1 : 0);
        }
      },
    });
  }

  /** Job metrics: total time and outcome per backend, each stage's time, sampling speed. */
  observer(): Omit<JobObserver, 'bug'> {
    return {
      stage: (backend, stage, seconds) => this.jobDuration.observe({ backend, stage }, seconds),
      ended: (job) => {
        this.jobs.inc({ backend: job.backend, outcome: job.state });
        if (job.state !== 'succeeded' || job.startedAt === undefined || job.finishedAt === undefined) return;
        const seconds = (job.finishedAt.getTime() - job.startedAt.getTime()) / 1000;
        this.jobDuration.observe({ backend: job.backend, stage: 'total' }, seconds);
        this.steps.inc({ backend: job.backend }, job.steps);
        if (seconds > 0) this.stepsPerSecond.set({ backend: job.backend }, job.steps / seconds);
      },
    };
  }

  private queueGauges(load: () => Promise<QueueLoad>): void {
    // One read per scrape, shared by the three gauges that come from it.
    let reading: Promise<QueueLoad | undefined> | undefined;
    const read = (): Promise<QueueLoad | undefined> => (reading ??= load().catch(() => undefined).finally(() => setImmediate(() => (reading = undefined))));
    new client.Gauge({ name: 'latent_upscale_queue_depth', help: 'Jobs waiting', registers: [this.registry], async collect() { const l = await read(); if (l) this.set(l.waiting); } });
    new client.Gauge({ name: 'latent_upscale_active_jobs', help: 'Jobs running', registers: [this.registry], async collect() { const l = await read(); if (l) this.set(l.running); } });
    new client.Gauge({ name: 'latent_upscale_job_store_up', help: '1 when the job store (Redis, or this process) answered the last scrape', registers: [this.registry], async collect() { this.set((await read()) ? 1 : 0); } });
  }
}
