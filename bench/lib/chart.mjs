// Line charts as standalone SVG (no dependencies, no script): labelled axes with
// units, a legend, and a <title>/<desc> for screen readers.

const escape = (text) =>
  String(text).replace(
    /[<>&"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c],
  );

/** A round upper bound and tick step for values up to `max`. */
function niceScale(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const rough = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? rough;
  return { top: Math.ceil(max / step) * step, step };
}

const format = (v) =>
  v >= 10_000
    ? `${Math.round(v / 1000)}k`
    : v >= 1000
      ? `${(v / 1000).toFixed(1)}k`
      : `${+v.toFixed(2)}`;

/**
 * @param {object} spec
 * @param {string} spec.title
 * @param {string} spec.description  what the chart shows, for screen readers
 * @param {string} spec.xLabel
 * @param {string} spec.yLabel
 * @param {(string|number)[]} spec.categories  x positions, evenly spaced
 * @param {{ name: string, color: string, values: (number|undefined)[], dashed?: boolean }[]} spec.series
 */
export function lineChart({ title, description, xLabel, yLabel, categories, series }) {
  const width = 640;
  const height = 380;
  const left = 72;
  const right = 24;
  const top = 48;
  const bottom = 64;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const max = Math.max(...series.flatMap((s) => s.values.filter((v) => v !== undefined)));
  const { top: yTop, step } = niceScale(max);
  const x = (i) =>
    left + (categories.length === 1 ? plotW / 2 : (i * plotW) / (categories.length - 1));
  const y = (v) => top + plotH - (v / yTop) * plotH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="t d" font-family="system-ui, sans-serif" font-size="13">`,
    `<title id="t">${escape(title)}</title>`,
    `<desc id="d">${escape(description)}</desc>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">${escape(title)}</text>`,
  ];
  for (let v = 0; v <= yTop + step / 2; v += step) {
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(v)}" y2="${y(v)}" stroke="#e3e3e3"/>`,
      `<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end" fill="#333">${format(v)}</text>`,
    );
  }
  categories.forEach((c, i) => {
    parts.push(
      `<line x1="${x(i)}" x2="${x(i)}" y1="${top + plotH}" y2="${top + plotH + 5}" stroke="#333"/>`,
      `<text x="${x(i)}" y="${top + plotH + 20}" text-anchor="middle" fill="#333">${escape(c)}</text>`,
    );
  });
  parts.push(
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" x2="${width - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${left + plotW / 2}" y="${height - 18}" text-anchor="middle">${escape(xLabel)}</text>`,
    `<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text>`,
  );
  series.forEach((s, k) => {
    const points = s.values
      .map((v, i) => (v === undefined ? undefined : `${x(i).toFixed(1)},${y(v).toFixed(1)}`))
      .filter((p) => p !== undefined);
    parts.push(
      `<polyline fill="none" stroke="${s.color}" stroke-width="2.5"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''} points="${points.join(' ')}"/>`,
    );
    s.values.forEach((v, i) => {
      if (v === undefined) return;
      parts.push(
        `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="${s.color}"><title>${escape(`${s.name}, ${categories[i]}: ${format(v)}`)}</title></circle>`,
      );
    });
    const lx = left + 12 + k * 200;
    parts.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${top - 10}" y2="${top - 10}" stroke="${s.color}" stroke-width="2.5"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${lx + 30}" y="${top - 6}">${escape(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
