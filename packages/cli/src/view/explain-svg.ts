import { type ExplainInput, explainModel, forecastLine, headline, whySentence } from "./explain.js";

// The picture of `kubectl nnunet explain --output FILE.svg`, for a report: the same model
// as the terminal picture, as a self-contained SVG (no scripts, no external references).
// Pure.

const W = 880;
const H = 520;
const PLOT = { left: 70, top: 50, right: 20, bottom: 150 } as const;

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Splits a sentence into lines of at most `max` characters, at spaces. */
function wrap(text: string, max: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > max) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

export function renderExplainSvg(input: ExplainInput): string {
  const m = explainModel(input);
  const pw = W - PLOT.left - PLOT.right;
  const ph = H - PLOT.top - PLOT.bottom;
  const x = (epoch: number) => PLOT.left + (epoch / Math.max(1, m.maxEpochs - 1)) * pw;
  const y = (v: number) => PLOT.top + ph - ((v - m.yMin) / (m.yMax - m.yMin || 1)) * ph;
  const path = (series: readonly (number | undefined)[]) => {
    let d = "";
    let pen = false;
    series.forEach((v, i) => {
      if (v === undefined || v < m.yMin) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${x(m.epochs[i]!).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    return d;
  };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${PLOT.left}" y="24" font-size="14" font-weight="bold">${esc(headline(input, m))}</text>`,
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = m.yMin + ((m.yMax - m.yMin) * i) / 4;
    parts.push(`<text x="${PLOT.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(3)}</text>`);
  }
  for (const epoch of [0, m.maxEpochs - 1])
    parts.push(`<text x="${x(epoch).toFixed(1)}" y="${PLOT.top + ph + 16}" text-anchor="middle">${epoch}</text>`);
  parts.push(`<text x="${PLOT.left + pw / 2}" y="${PLOT.top + ph + 32}" text-anchor="middle">epoch</text>`);
  parts.push(`<path d="${path(m.raw)}" fill="none" stroke="#9ecae1" stroke-width="1"/>`);
  parts.push(`<path d="${path(m.best)}" fill="none" stroke="#31a354" stroke-width="1.5" stroke-dasharray="4 3"/>`);
  parts.push(`<path d="${path(m.ema)}" fill="none" stroke="#08519c" stroke-width="2"/>`);
  if (m.stopEpoch !== undefined) {
    const sx = x(m.stopEpoch).toFixed(1);
    parts.push(
      `<line x1="${sx}" y1="${PLOT.top}" x2="${sx}" y2="${PLOT.top + ph}" stroke="#d62728" stroke-width="1.5"${m.audited ? ' stroke-dasharray="6 4"' : ""}/>`,
    );
    parts.push(
      `<text x="${sx}" y="${PLOT.top - 6}" text-anchor="middle" fill="#d62728">${m.audited ? "would-be stop" : "stop"} @${m.stopEpoch}</text>`,
    );
  }
  const legend: Array<[string, string]> = [
    ["#9ecae1", "pseudo Dice (mean over classes)"],
    ["#08519c", "EMA pseudo Dice"],
    ["#31a354", "best EMA so far"],
  ];
  legend.forEach(([colour, text], i) => {
    const lx = PLOT.left + i * 230;
    parts.push(
      `<line x1="${lx}" y1="${PLOT.top + ph + 52}" x2="${lx + 24}" y2="${PLOT.top + ph + 52}" stroke="${colour}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${lx + 30}" y="${PLOT.top + ph + 56}">${esc(text)}</text>`);
  });
  const text = [forecastLine(input.decision), whySentence(input, m)]
    .filter((t): t is string => t !== undefined)
    .flatMap((t) => wrap(t, 120));
  text.forEach((line, i) =>
    parts.push(`<text x="${PLOT.left}" y="${PLOT.top + ph + 80 + i * 16}">${esc(line)}</text>`),
  );
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
