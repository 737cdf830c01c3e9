import client from 'prom-client';
import type { Backend } from '../backends/backend.js';
import type { JobStore } from '../jobs/store.js';

/** Every Prometheus metric of one service instance, in its own registry (so test apps do not collide). */
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

  constructor(queue: () => JobStore, backends: ReadonlyMap<string, Backend>) {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'latent_upscale_' });
    new client.Gauge({ name: 'latent_upscale_queue_depth', help: 'Jobs waiting', registers: [this.registry], async collect() { this.set((await queue().load()).waiting); } });
    new client.Gauge({ name: 'latent_upscale_active_jobs', help: 'Jobs running', registers: [this.registry], async collect() { this.set((await queue().load()).running); } });
    new client.Gauge({
      name: 'latent_upscale_backend_healthy', help: '1 when a backend unit (A1111 instance, ONNX model) is usable', labelNames: ['backend', 'target'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [name, backend] of backends) for (const unit of backend.status().detail) this.set({ backend: name, target: unit.target }, unit.healthy ? 1 : 0);
      },
    });
  }
}
