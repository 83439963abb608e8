// A small horizontal bar chart in SVG, with the values written out.
import { html } from "htm/preact";
import type { VNode } from "preact";

/** The chart: one bar per entry, optionally coloured by a class per label. */
export function BarChart(
  props: {
    title: string;
    entries: readonly (readonly [string, number])[];
    show?: (n: number) => string;
    classOf?: (label: string) => string;
  },
): VNode {
  const show = props.show ?? ((n: number) => String(Math.round(n * 100) / 100));
  const max = Math.max(1e-9, ...props.entries.map(([, v]) => v));
  const rowH = 22;
  const height = Math.max(1, props.entries.length) * rowH;
  return html`<figure class="chart card">
    <figcaption>${props.title}</figcaption>
    ${
    props.entries.length === 0
      ? html`<p class="muted">No data yet.</p>`
      : html`<svg viewBox=${`0 0 300 ${height}`} role="img" aria-label=${props.title} width="100%" height=${height}>
        ${
        props.entries.map(([label, value], i) =>
          html`
            <g key=${label} transform=${`translate(0 ${i * rowH})`}>
              <text x="0" y="15" class="chart-label">${label}</text>
              <rect x="110" y="4" height="14" rx="2" width=${Math.max(
                1,
                (value / max) * 140,
              )} class=${`chart-bar ${props.classOf?.(label) ?? ""}`}></rect>
              <text x=${116 + (value / max) * 140} y="15" class="chart-value">${show(value)}</text>
            </g>
          `
        )
      }
      </svg>`
  }
  </figure>`;
}
