import { BackendError, UserError } from '../../errors.js';
import { SAMPLER_NAMES } from '../../samplers/catalog.js';
import type { BackendRules } from '../rules.js';
import { unitErrors } from '../rules.js';
import { supportedMethods, supportedSchedulers, unsupportedReason, type A1111Mode } from './payload.js';

const union = (lists: (readonly string[])[]): string[] => [...new Set(lists.flat())];

function healthyModes(units: Parameters<BackendRules['offers']>[0]['units']): A1111Mode[] {
  return units.filter((unit) => unit.healthy && unit.a1111 !== undefined).map((unit) => unit.a1111!);
}

/** A1111 instances: each instance's mode (companion or stock, its scheduler list) decides what it runs. */
export const A1111_RULES: BackendRules = {
  offers(snapshot) {
    const modes = healthyModes(snapshot.units);
    return {
      methods: union(modes.map(supportedMethods)),
      schedulers: union(modes.map(supportedSchedulers)),
      samplers: modes.length > 0 ? SAMPLER_NAMES : [],
    };
  },
  refusal(snapshot, work) {
    const modes = healthyModes(snapshot.units);
    if (modes.length === 0) return new BackendError(`no A1111 instance is available (${unitErrors(snapshot, 'none configured')})`, 'BACKEND_UNAVAILABLE');
    const reasons = modes.map((mode) => unsupportedReason(work, mode));
    return reasons.every((reason) => reason !== undefined) ? new UserError(reasons[0]!, 'UNSUPPORTED_BY_BACKEND') : undefined;
  },
};
