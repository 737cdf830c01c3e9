import type { BackendError, UserError } from '../errors.js';
import { A1111_RULES } from './a1111/rules.js';
import type { BackendSnapshot, WorkSpec } from './backend.js';
import { ONNX_RULES } from './onnx/rules.js';

export interface Offer {
  readonly methods: readonly string[];
  readonly schedulers: readonly string[];
  readonly samplers: readonly string[];
}

/**
 * What a kind of backend offers and refuses, judged from its snapshot alone. API nodes judge the merged
 * snapshots of remote workers with the same rules that a process judges its own backends with.
 */
export interface BackendRules {
  /** What at least one healthy unit supports now (GET /methods, /schedulers, /samplers). */
  offers(snapshot: BackendSnapshot): Offer;
  /** Why no unit can run the work: a UserError when none could, a 503 BackendError when none is healthy now. */
  refusal(snapshot: BackendSnapshot, work: WorkSpec): UserError | BackendError | undefined;
}

export const BACKEND_RULES: Readonly<Record<string, BackendRules>> = { a1111: A1111_RULES, onnx: ONNX_RULES };

export function rulesFor(backend: string): BackendRules {
  const rules = BACKEND_RULES[backend];
  if (rules === undefined) throw new Error(`no rules for backend '${backend}'`);
  return rules;
}

/** A snapshot is ready when a unit is healthy. */
export function isReady(snapshot: BackendSnapshot): boolean {
  return snapshot.units.some((unit) => unit.healthy);
}

/** Why no healthy unit is there, listing each unit's last error. */
export function unitErrors(snapshot: BackendSnapshot, fallback: string): string {
  const errors = snapshot.units.filter((unit) => !unit.healthy).map((unit) => unit.error ?? `${unit.target}: not probed yet`);
  return errors.length > 0 ? errors.join('; ') : fallback;
}
