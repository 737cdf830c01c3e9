import type { Redis } from 'ioredis';
import type { BackendSnapshot } from '../../backends/backend.js';
import { WORKERS_KEY, workerKey } from './wire.js';

/** What a worker publishes about itself every heartbeat; the key expires when it stops publishing. */
export interface Heartbeat {
  readonly worker: string;
  readonly backends: readonly BackendSnapshot[];
}

export async function publishHeartbeat(redis: Redis, heartbeat: Heartbeat, ttlMs: number): Promise<void> {
  await redis.multi().set(workerKey(heartbeat.worker), JSON.stringify(heartbeat), 'PX', ttlMs).sadd(WORKERS_KEY, heartbeat.worker).exec();
}

export async function removeHeartbeat(redis: Redis, worker: string): Promise<void> {
  await redis.multi().del(workerKey(worker)).srem(WORKERS_KEY, worker).exec();
}

/** The heartbeats of every live worker; members whose key expired (a dead worker) are dropped from the set. */
export async function readFleet(redis: Redis): Promise<Heartbeat[]> {
  const ids = await redis.smembers(WORKERS_KEY);
  if (ids.length === 0) return [];
  const values = await redis.mget(ids.map(workerKey));
  const dead = ids.filter((_id, i) => values[i] === null);
  if (dead.length > 0) await redis.srem(WORKERS_KEY, ...dead);
  return values.filter((value): value is string => value !== null).map((value) => JSON.parse(value) as Heartbeat);
}

/** One snapshot per backend for the whole fleet: every worker's units (tagged with the worker) and models. */
export function mergeFleet(heartbeats: readonly Heartbeat[]): BackendSnapshot[] {
  const merged = new Map<string, BackendSnapshot>();
  for (const { worker, backends } of heartbeats) {
    for (const snapshot of backends) {
      const into = merged.get(snapshot.backend) ?? { backend: snapshot.backend, units: [], models: [], modelErrors: [] };
      const models = [...into.models, ...snapshot.models.filter((m) => !into.models.some((known) => known.name === m.name))];
      merged.set(snapshot.backend, {
        backend: snapshot.backend,
        units: [...into.units, ...snapshot.units.map((unit) => ({ ...unit, worker }))],
        models,
        modelErrors: [...into.modelErrors, ...snapshot.modelErrors.map((e) => ({ ...e, name: `${worker}: ${e.name}`, model: e.model ?? e.name }))],
      });
    }
  }
  return [...merged.values()];
}
