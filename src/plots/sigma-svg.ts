// A line plot of a sigma schedule against step, like the extension README's default-vs-fixed figures:
// the full schedule in grey, the part img2img actually samples in colour, on the same step axis.

export interface SigmaPlot {
  readonly fullSigmas: readonly number[];
  readonly sampledSigmas: readonly number[];
  readonly title: string;
}

const WIDTH = 640;
const HEIGHT = 360;
const MARGIN = { left: 56, right: 16, top: 36, bottom: 40 };

export function sigmaPlotSvg({ fullSigmas, sampledSigmas, title }: SigmaPlot): string {
  const steps = Math.max(fullSigmas.length - 1, 1);
  const top = Math.max(...fullSigmas, ...sampledSigmas, 1e-9);
  const x = (step: number): number => MARGIN.left + (step / steps) * (WIDTH - MARGIN.left - MARGIN.right);
  const y = (sigma: number): number => HEIGHT - MARGIN.bottom - (sigma / top) * (HEIGHT - MARGIN.top - MARGIN.bottom);
  const offset = fullSigmas.length - sampledSigmas.length;
  const line = (sigmas: readonly number[], first: number): string => sigmas.map((s, i) => `${x(first + i).toFixed(1)},${y(s).toFixed(1)}`).join(' ');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const value = top * f;
    return `<text x="${MARGIN.left - 6}" y="${y(value).toFixed(1)}" text-anchor="end" dominant-baseline="middle">${value.toFixed(2)}</text>`
      + `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" stroke="#eee"/>`;
  }).join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="13">${escapeXml(title)}</text>`,
    ticks,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${HEIGHT - MARGIN.bottom}" y2="${HEIGHT - MARGIN.bottom}" stroke="#333"/>`,
    `<text x="${WIDTH / 2}" y="${HEIGHT - 8}" text-anchor="middle">step (of ${steps} in the full schedule)</text>`,
    `<text x="14" y="${HEIGHT / 2}" text-anchor="middle" transform="rotate(-90 14 ${HEIGHT / 2})">sigma</text>`,
    `<polyline id="full" points="${line(fullSigmas, 0)}" fill="none" stroke="#bbb" stroke-width="2"/>`,
    `<polyline id="sampled" points="${line(sampledSigmas, offset)}" fill="none" stroke="#d62728" stroke-width="2.5"/>`,
    `<text x="${WIDTH - MARGIN.right}" y="${MARGIN.top}" text-anchor="end" fill="#d62728">sampled: ${sampledSigmas.length - 1} steps from σ=${(sampledSigmas[0] ?? 0).toFixed(3)}</text>`,
    `<text x="${WIDTH - MARGIN.right}" y="${MARGIN.top + 14}" text-anchor="end" fill="#888">full schedule: ${steps} steps</text>`,
    '</svg>',
  ].join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
