import { base64Of } from '../../formats/base64.js';
import { jsonWithStringList } from '../../formats/json-string-field.js';
import { UPSCALE_METHOD_NAMES, upscaleMethod } from '../../interpolation/methods.js';
import { SAMPLERS } from '../../samplers/catalog.js';
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
  return SCHEDULERS.filter((s) => s.name === 'automatic' || (s.a1111Differs === undefined && a1111SchedulerFor(s, mode) !== undefined)).map((s) => s.name);
}

function a1111SchedulerFor(scheduler: Scheduler, mode: A1111Mode): A1111SchedulerInfo | undefined {
  const ours = [scheduler.name, scheduler.label, ...(scheduler.aliases ?? [])].filter((n): n is string => n !== undefined).map((n) => n.toLowerCase());
  return mode.schedulers?.find((s) => [s.name, s.label, ...(s.aliases ?? [])].some((n) => ours.includes(n.toLowerCase())));
}

export const COMPANION_HINT = `install the companion extension (a1111-extension/ in this project: copy it into A1111's extensions/ folder and restart A1111)`;

/** Our samplers that take a schedule on A1111. */
const SCHEDULED_SAMPLERS = SAMPLERS.filter((s) => s.a1111Schedules).map((s) => s.name);

/**
 * The scheduler A1111 should be told: for a sampler that takes no schedule, `automatic` (its own), which
 * is all that can be asked of it there; `ddim_uniform` names that same schedule for DDIM.
 */
function effectiveScheduler(work: WorkSpec): Scheduler {
  const scheduler = schedulerNamed(work.scheduler);
  return !work.sampler.a1111Schedules && scheduler.name === work.sampler.automaticScheduler ? schedulerNamed('automatic') : scheduler;
}

/** Why this instance cannot run the work, or undefined when it can. */
export function unsupportedReason(work: WorkSpec, mode: A1111Mode): string | undefined {
  if (!work.sampler.a1111Schedules && effectiveScheduler(work).name !== 'automatic') {
    return `scheduler '${work.scheduler}' does not apply to ${work.sampler.label} on A1111, which runs it on its own timesteps (use scheduler automatic, or a sampler that takes a schedule: ${SCHEDULED_SAMPLERS.join(', ')})`;
  }
  if (!supportedMethods(mode).includes(work.method)) {
    return `method '${work.method}' needs the companion extension: stock A1111 only upscales latents bilinearly (allowed without it: ${NATIVE_METHODS.join(', ')}); ${COMPANION_HINT}`;
  }
  const schedulers = supportedSchedulers(mode);
  const scheduler = schedulerNamed(work.scheduler);
  if (mode.kind === 'native' && scheduler.a1111Differs !== undefined) {
    return `scheduler '${scheduler.name}' runs only where the companion computes it: ${scheduler.a1111Differs}, while ours and the companion's are ComfyUI's, so the same name would give another schedule on this instance; ${COMPANION_HINT}`;
  }
  if (!schedulers.includes(scheduler.name)) {
    return mode.schedulers === undefined
      ? `scheduler '${work.scheduler}' needs A1111 1.9.1 or newer, or the companion extension (this A1111 has no /sdapi/v1/schedulers, which came in 1.9.1; allowed: automatic)`
      : `scheduler '${work.scheduler}' is not offered by this A1111 (allowed: ${schedulers.join(', ')}); ${COMPANION_HINT}`;
  }
  return undefined;
}

/**
 * The /sdapi/v1/img2img body. resize_mode 3 makes A1111 encode at the input size and upscale the latent
 * to height//8 × width//8; fix steps and clip skip go through override_settings, restored after the job
 * (clip skip is always sent, so the instance's own setting cannot change a job whose infotext omits it).
 */
export function img2imgBody(work: UpscaleWork, mode: A1111Mode, settings?: Readonly<Record<string, unknown>>): Buffer {
  return jsonWithStringList('init_images', base64Of(work.image), img2imgFields(work, mode, settings));
}

/** The body's fields other than the image. */
function img2imgFields(work: UpscaleWork, mode: A1111Mode, settings?: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const scheduler = effectiveScheduler(work);
  const common = {
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
    override_settings: changedSettings({ img2img_fix_steps: work.fixSteps, CLIP_stop_at_last_layers: work.clipSkip, samples_format: 'png', ...previewSettings(work.preview) }, settings),
    override_settings_restore_afterwards: true,
  };
  if (mode.kind === 'companion') {
    return { ...common, alwayson_scripts: { [COMPANION_SCRIPT_TITLE]: { args: [true, work.method, scheduler.name] } } };
  }
  // A1111 looks the scheduler up by label (modules/sd_samplers.py get_sampler_and_scheduler) and warns at
  // every job that gives it a name.
  const native = scheduler.name === 'automatic' ? undefined : a1111SchedulerFor(scheduler, mode);
  return native === undefined ? common : { ...common, scheduler: native.label };
}

/** Every setting a job may override, for the probe that checks the instance has them. */
export const OVERRIDE_KEYS = ['img2img_fix_steps', 'CLIP_stop_at_last_layers', 'samples_format', 'live_previews_enable', 'show_progress_every_n_steps', 'show_progress_type'];

/**
 * Settings that shape the image are always sent: the instance's value may have changed since its last
 * probe (a UI user, another client), and the job must not silently follow it.
 */
const GENERATION_SETTINGS = new Set(['img2img_fix_steps', 'CLIP_stop_at_last_layers']);

/**
 * The overrides that change something: one that does not shape the image and equals the instance's own
 * value (as of its last probe) is left out, so there is nothing to restore, nor to leave behind where
 * A1111 would not restore it.
 */
function changedSettings(overrides: Record<string, unknown>, settings: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  if (settings === undefined) return overrides;
  return Object.fromEntries(Object.entries(overrides).filter(([key, value]) => GENERATION_SETTINGS.has(key) || settings[key] !== value));
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

/**
 * What the companion should have written into A1111's infotext and did not, or undefined when it is there:
 * `Latent upscale method` always, `Latent upscale schedule` when a schedule was asked (its script sets
 * both in p.extra_generation_params; a1111-extension/scripts/latent_upscale_companion.py).
 */
export function companionProblem(infotext: string | undefined, work: WorkSpec): string | undefined {
  if (infotext === undefined) return 'its answer has no infotext to show that the companion ran';
  const field = (key: string): string | undefined => new RegExp(`(?:^|, |\\n)${key}: ([^,\\n]+)`).exec(infotext)?.[1];
  const scheduler = effectiveScheduler(work).name;
  if (field('Latent upscale method') !== work.method) return `its infotext has no "Latent upscale method: ${work.method}"`;
  if (scheduler !== 'automatic' && field('Latent upscale schedule') !== scheduler) return `its infotext has no "Latent upscale schedule: ${scheduler}"`;
  return undefined;
}
