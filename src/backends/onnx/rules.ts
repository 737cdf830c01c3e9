import { BackendError, UserError, unknownName } from '../../errors.js';
import { clipSkipRefusal, familyNamed } from '../../models/families.js';
import { UPSCALE_METHOD_NAMES } from '../../interpolation/methods.js';
import { SAMPLERS } from '../../samplers/catalog.js';
import { NATIVE_SAMPLERS } from '../../samplers/k-diffusion.js';
import { SCHEDULERS } from '../../schedules/schedulers.js';
import type { BackendRules } from '../rules.js';

export const NATIVE_SAMPLER_NAMES = SAMPLERS.filter((s) => s.name in NATIVE_SAMPLERS).map((s) => s.name);

/** ONNX models: every method and scheduler, the native samplers, on any loaded model; clip skip as the model allows. */
export const ONNX_RULES: BackendRules = {
  offers(snapshot) {
    const ready = snapshot.models.length > 0;
    return {
      methods: ready ? UPSCALE_METHOD_NAMES : [],
      schedulers: ready ? SCHEDULERS.map((s) => s.name) : [],
      samplers: ready ? NATIVE_SAMPLER_NAMES : [],
    };
  },
  refusal(snapshot, work) {
    if (snapshot.models.length === 0) {
      const errors = snapshot.modelErrors.map((e) => `${e.name}: ${e.error}`).join('; ');
      return new BackendError(`no ONNX model is loaded (${errors || 'MODELS_DIR is empty'})`, 'BACKEND_UNAVAILABLE');
    }
    const names = [...new Set(snapshot.models.map((m) => m.name))];
    const pending = snapshot.modelErrors.find((e) => e.pending && (e.model ?? e.name) === work.model);
    if (pending !== undefined && !names.includes(work.model!)) return new BackendError(`model '${work.model}' is not ready: ${pending.error}`, 'MODEL_NOT_READY');
    if (work.model !== undefined && !names.includes(work.model)) return unknownName('model', work.model, names, 'UNKNOWN_MODEL');
    const model = snapshot.models.find((m) => m.name === (work.model ?? names[0]))!;
    const clipSkip = clipSkipRefusal(model.name, familyNamed(model.family), model.max_clip_skip, work.clipSkip);
    if (clipSkip) return clipSkip;
    if (!(work.sampler.name in NATIVE_SAMPLERS)) {
      return new UserError(`sampler '${work.sampler.name}' is not available on the onnx backend (allowed: ${NATIVE_SAMPLER_NAMES.join(', ')})`, 'UNSUPPORTED_BY_BACKEND');
    }
    return undefined;
  },
};
