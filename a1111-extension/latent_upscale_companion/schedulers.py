"""Sigma schedules over a model's ascending sigma table (k-diffusion's model_wrap.sigmas), n steps -> n+1 sigmas ending in 0.

The same formulas as the latent-upscale service's src/schedules/schedulers.ts (ComfyUI semantics for
beta, kl_optimal and linear_quadratic; A1111's for align_your_steps).
"""
import math

import torch

ALIGN_YOUR_STEPS = {
    "sd1": [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029],
    "sdxl": [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029],
}


def _with_zero(values):
    return torch.tensor(list(values) + [0.0], dtype=torch.float32)


def _linspace(start, stop, count):
    if count == 1:
        return [start]
    return [start + (stop - start) * i / (count - 1) for i in range(count)]


def t_to_sigma(table, t):
    log_sigmas = table.log()
    t = min(max(t, 0.0), len(table) - 1.0)
    low, high = math.floor(t), math.ceil(t)
    w = t - low
    return math.exp((1 - w) * float(log_sigmas[low]) + w * float(log_sigmas[high]))


def sigma_to_t(table, sigma):
    log_sigmas = [float(v) for v in table.log()]
    log_sigma = math.log(sigma)
    low = max([i for i, v in enumerate(log_sigmas) if log_sigma - v >= 0], default=0)
    low = min(low, len(log_sigmas) - 2)
    w = min(max((log_sigmas[low] - log_sigma) / (log_sigmas[low] - log_sigmas[low + 1]), 0.0), 1.0)
    return (1 - w) * low + w * (low + 1)


def _even_timesteps(n, table, drop_last):
    first, last = sigma_to_t(table, float(table[-1])), sigma_to_t(table, float(table[0]))
    ts = _linspace(first, last, n + 1)[:-1] if drop_last else _linspace(first, last, n)
    return _with_zero(t_to_sigma(table, t) for t in ts)


def simple(n, table, **_):
    stride = len(table) / n
    return _with_zero(float(table[-(1 + int(x * stride))]) for x in range(n))


def normal(n, table, **_):
    return _even_timesteps(n, table, False)


def uniform(n, table, **_):
    return _with_zero(t_to_sigma(table, t) for t in _linspace(len(table) - 1.0, 0.0, n))


def sgm_uniform(n, table, **_):
    return _even_timesteps(n, table, True)


def karras(n, table, rho=7.0, **_):
    lo, hi = float(table[0]) ** (1 / rho), float(table[-1]) ** (1 / rho)
    return _with_zero((hi + ramp * (lo - hi)) ** rho for ramp in _linspace(0.0, 1.0, n))


def polyexponential(n, table, rho=1.0, **_):
    lo, hi = math.log(float(table[0])), math.log(float(table[-1]))
    return _with_zero(math.exp(ramp ** rho * (hi - lo) + lo) for ramp in _linspace(1.0, 0.0, n))


def exponential(n, table, **_):
    return polyexponential(n, table, rho=1.0)


def ddim_uniform(n, table, **_):
    stride = max(len(table) // n, 1)
    return _with_zero(reversed([float(table[x]) for x in range(1, len(table), stride)]))


def _beta_cdf(x, a, b):
    """Regularised incomplete beta I_x(a, b) by its continued fraction (Lentz)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _beta_cdf(1 - x, b, a)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x))
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)), -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return front * result / a


def beta_quantile(p, a, b):
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(100):
        mid = (low + high) / 2
        if _beta_cdf(mid, a, b) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def beta(n, table, alpha=0.6, beta_=0.6, **_):
    last = len(table) - 1
    timesteps = [round(beta_quantile(1 - i / n, alpha, beta_) * last) for i in range(n)]
    distinct = [t for i, t in enumerate(timesteps) if i == 0 or t != timesteps[i - 1]]
    return _with_zero(float(table[t]) for t in distinct)


def kl_optimal(n, table, **_):
    lo, hi = math.atan(float(table[0])), math.atan(float(table[-1]))
    return _with_zero(math.tan(a * lo + (1 - a) * hi) for a in _linspace(0.0, 1.0, n))


def linear_quadratic(n, table, threshold=0.025, **_):
    top = float(table[-1])
    if n == 1:
        return torch.tensor([top, 0.0], dtype=torch.float32)
    linear_steps = n // 2
    linear = [i * threshold / linear_steps for i in range(linear_steps)]
    diff = linear_steps - threshold * n
    quadratic_steps = n - linear_steps
    qc = diff / (linear_steps * quadratic_steps ** 2)
    lc = threshold / linear_steps - 2 * diff / quadratic_steps ** 2
    const = qc * linear_steps ** 2
    quadratic = [qc * i * i + lc * i + const for i in range(linear_steps, n)]
    return torch.tensor([(1 - v) * top for v in linear + quadratic + [1.0]], dtype=torch.float32)


def align_your_steps(n, table, family="sd1", **_):
    base = ALIGN_YOUR_STEPS[family]
    if n == len(base):
        return _with_zero(base)
    xs = _linspace(0.0, 1.0, len(base))
    ys = [math.log(v) for v in reversed(base)]

    def interp(x):
        for i in range(1, len(xs)):
            if x <= xs[i]:
                return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - xs[i - 1]) / (xs[i] - xs[i - 1])
        return ys[-1]

    return _with_zero(reversed([math.exp(interp(x)) for x in _linspace(0.0, 1.0, n)]))


SCHEDULERS = {
    "simple": simple, "normal": normal, "karras": karras, "exponential": exponential, "polyexponential": polyexponential,
    "uniform": uniform, "sgm_uniform": sgm_uniform, "ddim_uniform": ddim_uniform, "beta": beta, "kl_optimal": kl_optimal,
    "linear_quadratic": linear_quadratic, "align_your_steps": align_your_steps,
}


def schedule(name, n, table, family="sd1"):
    """n+1 sigmas for the named scheduler; 'automatic' is not here: it means A1111's own choice."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r} (allowed: {', '.join(SCHEDULERS)})")
    return SCHEDULERS[name](n, table, family=family)
