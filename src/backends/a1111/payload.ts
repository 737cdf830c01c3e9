import { UPSCALE_METHOD_NAMES, upscaleMethod } from '../../interpolation/methods.js';
import { SCHEDULERS, schedulerNamed, type Scheduler } from '../../schedules/schedulers.js';
import type { PreviewRequest, UpscaleWork, WorkSpec } from '../backend.js';
import type { A1111SchedulerInfo } from './client.js';

/** The always-on script in a1111-extension/; A1111 matches alwayson_scripts keys on the lower-cased title. */
export const COMPANION_SCRIPT_TITLE = 'Latent Upscale Companion';

/**
 * How an instance can do latent upscaling. `schedulers` is its /sdapi/v1/schedulers list; undefined on
 * A1111 older than 1.9, which has no scheduler choice at all.
 */
export interface A1111Mode {
  readonly kind: 'companion' | 'native';
  readonly schedulers: readonly A1111SchedulerInfo[] | undefined;
}

/** Stock A1111's resize_mode 3 is hard-coded bilinear; linear and trilinear are our aliases of it. */
const NATIVE_METHODS = UPSCALE_METHOD_NAMES.filter((name) => (upscaleMethod(name).aliasOf ?? name) === 'bilinear');

export function supportedMethods(mode: A1111Mode): readonly string[] {
  return mode.kind === 'companion' ? UPSCALE_METHOD_NAMES : NATIVE_METHODS;
}

/** Companion: all of ours (it computes them). Native: ours that the instance lists, matched by name or label. */
export function supportedSchedulers(mode: A1111Mode): readonly string[] {
  if (mode.kind === 'companion') return SCHEDULERS.map((s) => s.name);
  return SCHEDULERS.filter((s) => s.name === 'automatic' || a1111SchedulerFor(s, mode) !== undefined).map((s) => s.name);
}

function a1111SchedulerFor(scheduler: Scheduler, mode: A1111Mode): A1111SchedulerInfo | undefined {
  const ours = [scheduler.name, scheduler.label, ...(scheduler.aliases ?? [])].filter((n): n is string => n !== undefined).map((n) => n.toLowerCase());
  return mode.schedulers?.find((s) => [s.name, s.label, ...(s.aliases ?? [])].some((n) => ours.includes(n.toLowerCase())));
}

export const COMPANION_HINT = `install the companion extension (a1111-extension/ in this project: copy it into A1111's extensions/ folder and restart A1111)`;

/** Why this instance cannot run the work, or undefined when it can. */
export function unsupportedReason(work: WorkSpec, mode: A1111Mode): string | undefined {
  if (!supportedMethods(mode).includes(work.method)) {
    return `method '${work.method}' needs the companion extension: stock A1111 only upscales latents bilinearly (allowed without it: ${NATIVE_METHODS.join(', ')}); ${COMPANION_HINT}`;
  }
  const schedulers = supportedSchedulers(mode);
  if (!schedulers.includes(schedulerNamed(work.scheduler).name)) {
    return mode.schedulers === undefined
      ? `scheduler '${work.scheduler}' needs A1111 1.9 or newer, or the companion extension (this A1111 has no /sdapi/v1/schedulers; allowed: automatic)`
      : `scheduler '${work.scheduler}' is not offered by this A1111 (allowed: ${schedulers.join(', ')}); ${COMPANION_HINT}`;
  }
  return undefined;
}

/**
 * The /sdapi/v1/img2img body. resize_mode 3 makes A1111 encode at the input size and upscale the latent
 * to height//8 × width//8; fix steps and clip skip go through override_settings, restored after the job
 * (clip skip is always sent, so the instance's own setting cannot change a job whose infotext omits it).
 */
export function img2imgPayload(work: UpscaleWork, mode: A1111Mode, imageBase64: string): Record<string, unknown> {
  const scheduler = schedulerNamed(work.scheduler);
  const common = {
    init_images: [imageBase64],
    resize_mode: 3,
    width: work.width,
    height: work.height,
    denoising_strength: work.denoise,
    steps: work.steps,
    cfg_scale: work.cfgScale,
    seed: work.seed,
    sampler_name: work.sampler.label,
    prompt: work.prompt,
    negative_prompt: work.negativePrompt,
    batch_size: 1,
    n_iter: 1,
    send_images: true,
    save_images: false,
    override_settings: { img2img_fix_steps: work.fixSteps, CLIP_stop_at_last_layers: work.clipSkip, samples_format: 'png', ...previewSettings(work.preview) },
    override_settings_restore_afterwards: true,
  };
  if (mode.kind === 'companion') {
    return { ...common, alwayson_scripts: { [COMPANION_SCRIPT_TITLE]: { args: [true, work.method, scheduler.name] } } };
  }
  const native = scheduler.name === 'automatic' ? undefined : a1111SchedulerFor(scheduler, mode);
  return native === undefined ? common : { ...common, scheduler: native.name };
}

/**
 * Live previews for this job only (A1111 modules/shared_options.py "Live previews"): on, every n steps, by
 * "Approx cheap" (its linear latent → RGB map) or "Full" (the VAE); /sdapi/v1/progress then carries the
 * latest as current_image.
 */
function previewSettings(preview: PreviewRequest): Record<string, unknown> {
  if (preview.mode === 'off') return {};
  return { live_previews_enable: true, show_progress_every_n_steps: preview.every, show_progress_type: preview.mode === 'cheap' ? 'Approx cheap' : 'Full' };
}
