// The Prometheus text format (0.0.4), parsed in the browser for the overview's charts.

/** One sample: a metric name, its labels and value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text: comments are skipped, label values unescaped. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const l of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
    }
    const value = Number(match[3] === "+Inf" ? Infinity : match[3]);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** Sums a metric's samples by the value of one label. */
export function sumBy(
  samples: readonly Sample[],
  name: string,
  label: string,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = s.labels[label] ?? "";
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

/**
 * A quantile of a histogram (`<name>_bucket`), by linear interpolation in
 * its bucket, as Prometheus' `histogram_quantile` does; per value of `label`.
 */
export function quantiles(
  samples: readonly Sample[],
  name: string,
  label: string,
  q: number,
): Map<string, number> {
  const buckets = new Map<string, { le: number; count: number }[]>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const key = s.labels[label] ?? "";
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    const list = buckets.get(key) ?? [];
    list.push({ le, count: s.value });
    buckets.set(key, list);
  }
  const out = new Map<string, number>();
  for (const [key, list] of buckets) {
    list.sort((a, b) => a.le - b.le);
    const total = list.at(-1)?.count ?? 0;
    if (total === 0) continue;
    const rank = q * total;
    let previous = { le: 0, count: 0 };
    for (const b of list) {
      if (b.count >= rank) {
        if (b.le === Infinity) out.set(key, previous.le);
        else {
          const inBucket = b.count - previous.count;
          const fraction = inBucket > 0 ? (rank - previous.count) / inBucket : 0;
          out.set(key, previous.le + (b.le - previous.le) * fraction);
        }
        break;
      }
      previous = b;
    }
  }
  return out;
}

/** A reading of a counter by label value, at a time (epoch ms). */
export interface Reading {
  at: number;
  counts: Map<string, number>;
}

/** Increase per minute of each label value between two readings (a restarted counter: its new value). */
export function rates(before: Reading, after: Reading): Map<string, number> {
  const minutes = Math.max(1e-9, (after.at - before.at) / 60_000);
  const out = new Map<string, number>();
  for (const [key, value] of after.counts) {
    const previous = before.counts.get(key) ?? 0;
    const increase = value >= previous ? value - previous : value;
    out.set(key, Math.round((increase / minutes) * 100) / 100);
  }
  return out;
}
