/**
 * Names callers moving from A1111 send us, and the field of ours each one means: an unknown field is
 * refused with this as its hint, instead of being ignored. They are fields of A1111's img2img and txt2img
 * requests (modules/api/models.py: StableDiffusionImg2ImgProcessingAPI, and txt2img's hires-fix hr_*),
 * keys of its override_settings (CLIP_stop_at_last_layers, sd_model_checkpoint), and the original
 * Latent Upscale extension's option names (upscale_method, latent_upscale_method).
 */
export const A1111_FIELD_MEANINGS: Readonly<Record<string, string>> = {
  init_images: 'image',
  denoising_strength: 'denoise',
  sampler_name: 'sampler',
  sampler_index: 'sampler',
  CLIP_stop_at_last_layers: 'clip_skip',
  sd_model_checkpoint: 'model',
  override_settings: 'clip_skip and model (the settings it would override are fields of their own here)',
  hr_upscaler: 'method',
  hr_scale: 'scale',
  hr_resize_x: 'width',
  hr_resize_y: 'height',
  hr_second_pass_steps: 'steps',
  hr_sampler_name: 'sampler',
  hr_scheduler: 'scheduler',
  hr_prompt: 'prompt',
  hr_negative_prompt: 'negative_prompt',
  upscale_method: 'method',
  latent_upscale_method: 'method',
};

/** A1111 img2img and txt2img fields with no counterpart: one image per job, no inpainting, no scripts. */
export const A1111_FIELDS_NOT_OFFERED: readonly string[] = [
  'batch_size', 'n_iter', 'mask', 'mask_blur', 'inpainting_fill', 'inpaint_full_res', 'inpaint_full_res_padding', 'inpainting_mask_invert',
  'resize_mode', 'image_cfg_scale', 'initial_noise_multiplier', 'subseed', 'subseed_strength', 'seed_resize_from_h', 'seed_resize_from_w',
  'styles', 'restore_faces', 'tiling', 'do_not_save_samples', 'do_not_save_grid', 'eta', 's_min_uncond', 's_churn', 's_tmax', 's_tmin', 's_noise',
  'override_settings_restore_afterwards', 'refiner_checkpoint', 'refiner_switch_at', 'disable_extra_networks', 'firstpass_image', 'comments',
  'include_init_images', 'script_name', 'script_args', 'send_images', 'save_images', 'alwayson_scripts', 'infotext', 'enable_hr',
];
