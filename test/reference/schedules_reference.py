"""Sigma tables and schedules from their upstream code, for the TypeScript tests (a python3 with torch and numpy).

Reads JSON from stdin and writes JSON to stdout:
  {"schedules": [{"scheduler": name, "steps": n, "family": "sd1"|"sdxl"}, ...],
   "img2img": [{"scheduler": name, "steps": n, "denoise": d, "fix_steps": bool, "discard_penultimate": bool}, ...],
   "comfy_denoise": [{"scheduler": name, "steps": n, "denoise": d}, ...]}
  -> {"table": [1000 sigmas], "log_table": [...], "schedules": [[n+1 sigmas], ...], "img2img": [[...]], "comfy_denoise": [[...]]}

Each function below is a transcription of the upstream code it names, kept in its torch/numpy dtypes, so
the service's TypeScript (src/schedules/) is held to what A1111, ComfyUI and k-diffusion compute rather than
to numbers copied from anywhere. Upstream:
  A1111       AUTOMATIC1111/stable-diffusion-webui modules/sd_schedulers.py, modules/sd_samplers_common.py
              setup_img2img_steps, modules/sd_samplers_kdiffusion.py KDiffusionSampler.get_sigmas/sample_img2img
  ComfyUI     comfyanonymous/ComfyUI comfy/samplers.py (simple_scheduler, normal_scheduler, ddim_scheduler,
              beta_scheduler, linear_quadratic_schedule, kl_optimal_scheduler, KSampler.set_steps) and
              comfy/model_sampling.py ModelSamplingDiscrete (timestep, sigma)
  k-diffusion crowsonkb/k-diffusion k_diffusion/sampling.py (get_sigmas_*), k_diffusion/external.py
              (DiscreteSchedule, DiscreteEpsDDPMDenoiser)
  CompVis     CompVis/stable-diffusion ldm/modules/diffusionmodules/util.py make_beta_schedule,
              ldm/models/diffusion/ddpm.py register_schedule, configs/stable-diffusion/v1-inference.yaml
One substitution: ComfyUI's beta_scheduler calls scipy.stats.beta.ppf; scipy is not a dependency here, so
beta_ppf inverts the regularised incomplete beta function, computed by Gauss-Legendre quadrature.
"""
import json
import math
import sys

import numpy as np
import torch


# --- The SD 1.x / 2.x / SDXL table as A1111 holds it -----------------------------------------------------

def make_beta_schedule_linear(n_timestep, linear_start, linear_end):
    """CompVis make_beta_schedule("linear"), returned as numpy like upstream."""
    return (torch.linspace(linear_start ** 0.5, linear_end ** 0.5, n_timestep, dtype=torch.float64) ** 2).numpy()


def compvis_alphas_cumprod():
    """CompVis register_schedule with v1-inference.yaml's linear_start 0.00085, linear_end 0.012, 1000 steps."""
    betas = make_beta_schedule_linear(1000, 0.00085, 0.012)
    alphas = 1. - betas
    alphas_cumprod = np.cumprod(alphas, axis=0)
    return torch.tensor(alphas_cumprod, dtype=torch.float32)  # to_torch = partial(torch.tensor, dtype=torch.float32)


class DiscreteSchedule:
    """k-diffusion DiscreteSchedule (quantize=False, as A1111 constructs CompVisDenoiser by default)."""

    def __init__(self, sigmas):
        self.sigmas = sigmas
        self.log_sigmas = sigmas.log()

    def get_sigmas(self, n=None):
        t_max = len(self.sigmas) - 1
        t = torch.linspace(t_max, 0, n, device=self.sigmas.device)
        return append_zero(self.t_to_sigma(t))

    def sigma_to_t(self, sigma):
        log_sigma = sigma.log()
        dists = log_sigma - self.log_sigmas[:, None]
        low_idx = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=self.log_sigmas.shape[0] - 2)
        high_idx = low_idx + 1
        low, high = self.log_sigmas[low_idx], self.log_sigmas[high_idx]
        w = (low - log_sigma) / (low - high)
        w = w.clamp(0, 1)
        t = (1 - w) * low_idx + w * high_idx
        return t.view(sigma.shape)

    def t_to_sigma(self, t):
        t = t.float()
        low_idx, high_idx, w = t.floor().long(), t.ceil().long(), t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low_idx] + w * self.log_sigmas[high_idx]
        return log_sigma.exp()


def compvis_denoiser():
    """k-diffusion DiscreteEpsDDPMDenoiser: sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5."""
    alphas_cumprod = compvis_alphas_cumprod()
    return DiscreteSchedule(((1 - alphas_cumprod) / alphas_cumprod) ** 0.5)


# --- k-diffusion sampling.py -------------------------------------------------------------------------------

def append_zero(x):
    return torch.cat([x, x.new_zeros([1])])


def get_sigmas_karras(n, sigma_min, sigma_max, rho=7., device='cpu'):
    ramp = torch.linspace(0, 1, n)
    min_inv_rho = sigma_min ** (1 / rho)
    max_inv_rho = sigma_max ** (1 / rho)
    sigmas = (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho
    return append_zero(sigmas).to(device)


def get_sigmas_exponential(n, sigma_min, sigma_max, device='cpu'):
    sigmas = torch.linspace(math.log(sigma_max), math.log(sigma_min), n, device=device).exp()
    return append_zero(sigmas)


def get_sigmas_polyexponential(n, sigma_min, sigma_max, rho=1., device='cpu'):
    ramp = torch.linspace(1, 0, n, device=device) ** rho
    sigmas = torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min))
    return append_zero(sigmas)


# --- A1111 modules/sd_schedulers.py ----------------------------------------------------------------------

def a1111_uniform(n, sigma_min, sigma_max, inner_model, device):
    return inner_model.get_sigmas(n).to(device)


def a1111_sgm_uniform(n, sigma_min, sigma_max, inner_model, device):
    start = inner_model.sigma_to_t(torch.tensor(sigma_max))
    end = inner_model.sigma_to_t(torch.tensor(sigma_min))
    sigs = [inner_model.t_to_sigma(ts) for ts in torch.linspace(start, end, n + 1)[:-1]]
    sigs += [0.0]
    return torch.FloatTensor(sigs).to(device)


def a1111_normal_scheduler(n, sigma_min, sigma_max, inner_model, device, sgm=False, floor=False):
    start = inner_model.sigma_to_t(torch.tensor(sigma_max))
    end = inner_model.sigma_to_t(torch.tensor(sigma_min))
    if sgm:
        timesteps = torch.linspace(start, end, n + 1)[:-1]
    else:
        timesteps = torch.linspace(start, end, n)
    sigs = []
    for x in range(len(timesteps)):
        ts = timesteps[x]
        sigs.append(inner_model.t_to_sigma(ts))
    sigs += [0.0]
    return torch.FloatTensor(sigs).to(device)


ALIGN_YOUR_STEPS = {
    # https://research.nvidia.com/labs/toronto-ai/AlignYourSteps/howto.html, as A1111 lists them
    "sdxl": [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029],
    "sd1": [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029],
}


def a1111_align_your_steps(n, family, device='cpu'):
    def loglinear_interp(t_steps, num_steps):
        xs = np.linspace(0, 1, len(t_steps))
        ys = np.log(t_steps[::-1])
        new_xs = np.linspace(0, 1, num_steps)
        new_ys = np.interp(new_xs, xs, ys)
        interped_ys = np.exp(new_ys)[::-1].copy()
        return interped_ys

    sigmas = list(ALIGN_YOUR_STEPS[family])
    if n != len(sigmas):
        sigmas = np.append(loglinear_interp(sigmas, n), [0.0])
    else:
        sigmas.append(0.0)
    return torch.FloatTensor(sigmas).to(device)


# --- ComfyUI comfy/samplers.py (model_sampling.sigmas: the ascending table) ------------------------------

class ModelSampling:
    """What the schedulers use of ComfyUI comfy/model_sampling.py ModelSamplingDiscrete, over the table above."""

    def __init__(self, sigmas):
        self.sigmas = sigmas
        self.log_sigmas = sigmas.log()
        self.sigma_min = sigmas[0]
        self.sigma_max = sigmas[-1]

    def timestep(self, sigma):
        log_sigma = sigma.log()
        dists = log_sigma.to(self.log_sigmas.device) - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape).to(sigma.device)

    def sigma(self, timestep):
        t = torch.clamp(timestep.float().to(self.log_sigmas.device), min=0, max=(len(self.sigmas) - 1))
        low_idx = t.floor().long()
        high_idx = t.ceil().long()
        w = t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low_idx] + w * self.log_sigmas[high_idx]
        return log_sigma.exp().to(timestep.device)


def comfy_normal_scheduler(model_sampling, steps, sgm=False, floor=False):
    s = model_sampling
    start = s.timestep(s.sigma_max)
    end = s.timestep(s.sigma_min)
    append_zero = True
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(s.sigma(end)), 0, abs_tol=0.00001):
            steps += 1
            append_zero = False
        timesteps = torch.linspace(start, end, steps)
    sigs = []
    for x in range(len(timesteps)):
        ts = timesteps[x]
        sigs.append(float(s.sigma(ts)))
    if append_zero:
        sigs += [0.0]
    return torch.FloatTensor(sigs)


def comfy_simple_scheduler(model_sampling, steps):
    s = model_sampling
    sigs = []
    ss = len(s.sigmas) / steps
    for x in range(steps):
        sigs += [float(s.sigmas[-(1 + int(x * ss))])]
    sigs += [0.0]
    return torch.FloatTensor(sigs)


def comfy_ddim_scheduler(model_sampling, steps):
    s = model_sampling
    x = 1
    if math.isclose(float(s.sigmas[x]), 0, abs_tol=0.00001):
        steps += 1
        sigs = []
    else:
        sigs = [0.0]
    ss = max(len(s.sigmas) // steps, 1)
    while x < len(s.sigmas):
        sigs += [float(s.sigmas[x])]
        x += ss
    sigs = sigs[::-1]
    return torch.FloatTensor(sigs)


def comfy_beta_scheduler(model_sampling, steps, alpha=0.6, beta=0.6):
    total_timesteps = (len(model_sampling.sigmas) - 1)
    ts = 1 - np.linspace(0, 1, steps, endpoint=False)
    ts = np.rint(np.array([beta_ppf(p, alpha, beta) for p in ts]) * total_timesteps)  # scipy.stats.beta.ppf(ts, alpha, beta)
    sigs = []
    last_t = -1
    for t in ts:
        if t != last_t:
            sigs += [float(model_sampling.sigmas[int(t)])]
        last_t = t
    sigs += [0.0]
    return torch.FloatTensor(sigs)


def comfy_linear_quadratic_schedule(model_sampling, steps, threshold_noise=0.025, linear_steps=None):
    if steps == 1:
        sigma_schedule = [1.0, 0.0]
    else:
        if linear_steps is None:
            linear_steps = steps // 2
        linear_sigma_schedule = [i * threshold_noise / linear_steps for i in range(linear_steps)]
        threshold_noise_step_diff = linear_steps - threshold_noise * steps
        quadratic_steps = steps - linear_steps
        quadratic_coef = threshold_noise_step_diff / (linear_steps * quadratic_steps ** 2)
        linear_coef = threshold_noise / linear_steps - 2 * threshold_noise_step_diff / (quadratic_steps ** 2)
        const = quadratic_coef * (linear_steps ** 2)
        quadratic_sigma_schedule = [quadratic_coef * (i ** 2) + linear_coef * i + const for i in range(linear_steps, steps)]
        sigma_schedule = linear_sigma_schedule + quadratic_sigma_schedule + [1.0]
        sigma_schedule = [1.0 - x for x in sigma_schedule]
    return torch.FloatTensor(sigma_schedule) * model_sampling.sigma_max.cpu()


def comfy_kl_optimal_scheduler(n, sigma_min, sigma_max):
    adj_idxs = torch.arange(n, dtype=torch.float).div_(n - 1)
    sigmas = adj_idxs.new_zeros(n + 1)
    sigmas[:-1] = (adj_idxs * math.atan(sigma_min) + (1 - adj_idxs) * math.atan(sigma_max)).tan_()
    return sigmas


# --- scipy.stats.beta.ppf, without scipy ----------------------------------------------------------------

GAUSS_LEGENDRE = np.polynomial.legendre.leggauss(200)


def beta_cdf(x, a, b):
    """The regularised incomplete beta I_x(a, b). For x <= 1/2, t = u^(1/a) turns the integral of
    t^(a-1) (1-t)^(b-1) over [0, x] into (1/a) times that of (1 - u^(1/a))^(b-1) over [0, x^a], which has no
    singularity there; above 1/2, I_x(a, b) = 1 - I_(1-x)(b, a)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > 0.5:
        return 1.0 - beta_cdf(1.0 - x, b, a)
    nodes, weights = GAUSS_LEGENDRE
    top = x ** a
    u = (nodes + 1) * top / 2
    integral = float((weights * (1 - u ** (1 / a)) ** (b - 1)).sum()) * top / 2 / a
    return integral / math.exp(math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))


def beta_ppf(p, a, b):
    """The p-quantile of Beta(a, b), by bisection on beta_cdf to double precision."""
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if beta_cdf(middle, a, b) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2


# --- Dispatch: the service's scheduler names, as A1111 (and ComfyUI for its own) call them ---------------

MODEL = compvis_denoiser()
COMFY = ModelSampling(MODEL.sigmas)
# KDiffusionSampler.get_sigmas: m_sigma_min, m_sigma_max = self.model_wrap.sigmas[0].item(), self.model_wrap.sigmas[-1].item()
SIGMA_MIN, SIGMA_MAX = MODEL.sigmas[0].item(), MODEL.sigmas[-1].item()


def schedule(name, n, family="sd1"):
    kwargs = {"sigma_min": SIGMA_MIN, "sigma_max": SIGMA_MAX}
    functions = {
        "simple": lambda: comfy_simple_scheduler(COMFY, n),
        "normal": lambda: a1111_normal_scheduler(n, **kwargs, inner_model=MODEL, device="cpu"),
        "karras": lambda: get_sigmas_karras(n, **kwargs),
        "exponential": lambda: get_sigmas_exponential(n, **kwargs),
        "polyexponential": lambda: get_sigmas_polyexponential(n, **kwargs, rho=1.0),
        "uniform": lambda: a1111_uniform(n, **kwargs, inner_model=MODEL, device="cpu"),
        "sgm_uniform": lambda: a1111_sgm_uniform(n, **kwargs, inner_model=MODEL, device="cpu"),
        "ddim_uniform": lambda: comfy_ddim_scheduler(COMFY, n),
        "beta": lambda: comfy_beta_scheduler(COMFY, n),
        "kl_optimal": lambda: comfy_kl_optimal_scheduler(n, **kwargs),
        "linear_quadratic": lambda: comfy_linear_quadratic_schedule(COMFY, n),
        "align_your_steps": lambda: a1111_align_your_steps(n, family),
    }
    return functions[name]()


def a1111_img2img(case):
    """setup_img2img_steps, then get_sigmas (one step more and the penultimate sigma dropped for
    discard_next_to_last_sigma samplers), then sample_img2img's sigmas[steps - t_enc - 1:]."""
    requested, denoising_strength = case["steps"], case["denoise"]
    if case["fix_steps"]:
        steps = int(requested / min(denoising_strength, 0.999)) if denoising_strength > 0 else 0
        t_enc = requested - 1
    else:
        steps = requested
        t_enc = int(min(denoising_strength, 0.999) * steps)
    discard = case.get("discard_penultimate", False)
    sigmas = schedule(case["scheduler"], steps + (1 if discard else 0))
    if discard:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas[steps - t_enc - 1:]


COMFY_SCHEDULERS = {"normal": lambda n: comfy_normal_scheduler(COMFY, n), "simple": lambda n: comfy_simple_scheduler(COMFY, n)}


def comfy_set_steps(case):
    """ComfyUI KSampler.set_steps: calculate_sigmas(steps), or for 0 < denoise <= 0.9999
    calculate_sigmas(int(steps/denoise))[-(steps + 1):], with ComfyUI's own normal and simple."""
    steps, denoise = case["steps"], case["denoise"]
    calculate_sigmas = COMFY_SCHEDULERS[case["scheduler"]]
    if denoise > 0.9999:
        return calculate_sigmas(steps)
    new_steps = int(steps / denoise)
    return calculate_sigmas(new_steps)[-(steps + 1):]


def main():
    request = json.load(sys.stdin)
    json.dump({
        "torch": torch.__version__,
        "table": MODEL.sigmas.tolist(),
        "log_table": MODEL.log_sigmas.tolist(),
        "schedules": [schedule(c["scheduler"], c["steps"], c.get("family", "sd1")).tolist() for c in request.get("schedules", [])],
        "img2img": [a1111_img2img(c).tolist() for c in request.get("img2img", [])],
        "comfy_denoise": [comfy_set_steps(c).tolist() for c in request.get("comfy_denoise", [])],
    }, sys.stdout)


if __name__ == "__main__":
    main()
