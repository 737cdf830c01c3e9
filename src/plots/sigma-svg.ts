// A line plot of a sigma schedule against step, like the extension README's default-vs-fixed figures:
// the full schedule in grey, the part img2img actually samples in colour with a dot at each sampled
// step, on the same step axis. Drawn at about the size the page shows it (a 300 px sidebar), so its
// text stays readable; `log` puts σ on a log axis, where the sampled tail is not squashed against zero.

export interface SigmaPlot {
  readonly fullSigmas: readonly number[];
  readonly sampledSigmas: readonly number[];
  readonly title: string;
  /** σ on a log axis (σ = 0, the schedule's end, sits on the bottom edge). */
  readonly log?: boolean;
}

const WIDTH = 340;
const HEIGHT = 240;
const MARGIN = { left: 44, right: 10, top: 42, bottom: 34 };
const PLOT_HEIGHT = HEIGHT - MARGIN.top - MARGIN.bottom;

export function sigmaPlotSvg({ fullSigmas, sampledSigmas, title, log = false }: SigmaPlot): string {
  const steps = Math.max(fullSigmas.length - 1, 1);
  const all = [...fullSigmas, ...sampledSigmas];
  const top = Math.max(...all, 1e-9);
  const positive = all.filter((s) => s > 0);
  const bottom = log ? Math.min(...positive, top / 10) : 0;
  const fraction = (sigma: number): number => (log
    ? (sigma <= bottom ? 0 : (Math.log(sigma) - Math.log(bottom)) / (Math.log(top) - Math.log(bottom)))
    : sigma / top);
  const x = (step: number): number => MARGIN.left + (step / steps) * (WIDTH - MARGIN.left - MARGIN.right);
  const y = (sigma: number): number => HEIGHT - MARGIN.bottom - fraction(sigma) * PLOT_HEIGHT;
  const offset = fullSigmas.length - sampledSigmas.length;
  const line = (sigmas: readonly number[], first: number): string => sigmas.map((s, i) => `${x(first + i).toFixed(1)},${y(s).toFixed(1)}`).join(' ');
  const tickValues = log ? logTicks(bottom, top) : [0, 0.25, 0.5, 0.75, 1].map((f) => top * f);
  const ticks = tickValues.map((value) => `<text x="${MARGIN.left - 4}" y="${y(value).toFixed(1)}" text-anchor="end" dominant-baseline="middle">${formatSigma(value)}</text>`
    + `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" stroke="#eee"/>`).join('');
  const dots = sampledSigmas.map((s, i) => `<circle class="step" cx="${x(offset + i).toFixed(1)}" cy="${y(s).toFixed(1)}" r="2.2" fill="#d62728"/>`).join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="14" text-anchor="middle" font-size="12">${escapeXml(title)}</text>`,
    ticks,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${HEIGHT - MARGIN.bottom}" y2="${HEIGHT - MARGIN.bottom}" stroke="#333"/>`,
    `<text x="${(WIDTH + MARGIN.left) / 2}" y="${HEIGHT - 8}" text-anchor="middle">step (of ${steps} in the full schedule)</text>`,
    `<text x="11" y="${MARGIN.top + PLOT_HEIGHT / 2}" text-anchor="middle" transform="rotate(-90 11 ${MARGIN.top + PLOT_HEIGHT / 2})">σ${log ? ' (log)' : ''}</text>`,
    `<polyline id="full" points="${line(fullSigmas, 0)}" fill="none" stroke="#bbb" stroke-width="2"/>`,
    `<polyline id="sampled" points="${line(sampledSigmas, offset)}" fill="none" stroke="#d62728" stroke-width="2"/>`,
    dots,
    `<text x="${WIDTH - MARGIN.right}" y="30" text-anchor="end" fill="#d62728">sampled: ${sampledSigmas.length - 1} steps from σ ${formatSigma(sampledSigmas[0] ?? 0)}</text>`,
    '</svg>',
  ].join('\n');
}

/** Powers of ten from below `bottom` to above `top`, and 1 and 3 times them where they fit. */
function logTicks(bottom: number, top: number): number[] {
  const ticks: number[] = [];
  for (let power = Math.floor(Math.log10(bottom)); power <= Math.ceil(Math.log10(top)); power++) {
    for (const mantissa of [1, 3]) {
      const value = mantissa * 10 ** power;
      if (value >= bottom && value <= top) ticks.push(value);
    }
  }
  return ticks;
}

function formatSigma(value: number): string {
  return value >= 10 ? value.toFixed(0) : value >= 1 ? value.toFixed(1) : value >= 0.1 ? value.toFixed(2) : value.toPrecision(1);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
