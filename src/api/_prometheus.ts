/**
 * A minimal Prometheus registry (text exposition format 0.0.4): counters,
 * gauges and histograms with labels. No dependency.
 *
 * @module
 */

/** Label values by label name. */
export type Labels = Record<string, string>;

/** Default histogram buckets for durations, in seconds. */
export const DURATION_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
];

interface _Metric {
  name: string;
  help: string;
  render(): string[];
}

/** A value that only goes up. */
export class Counter implements _Metric {
  /** Metric name. */
  readonly name: string;
  /** One line of help. */
  readonly help: string;
  readonly #values = new Map<string, number>();

  /**
   * Creates the metric.
   *
   * @param name Metric name (`oao_…_total`).
   * @param help One line of help.
   */
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  /**
   * Adds to the series of `labels`.
   *
   * @param labels The series.
   * @param by Amount, >= 0. @default {1}
   */
  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) return;
    const key = _labelText(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }

  /**
   * The value of a series.
   *
   * @param labels The series.
   * @returns Its value (0 when never incremented).
   */
  get(labels: Labels = {}): number {
    return this.#values.get(_labelText(labels)) ?? 0;
  }

  /**
   * The metric in the exposition format.
   *
   * @returns The `# HELP`, `# TYPE` and sample lines.
   */
  render(): string[] {
    return _header(this, "counter", [...this.#values].map(([l, v]) => `${this.name}${l} ${v}`));
  }
}

/** A value set at scrape time. */
export class Gauge implements _Metric {
  /** Metric name. */
  readonly name: string;
  /** One line of help. */
  readonly help: string;
  readonly #values = new Map<string, number>();

  /**
   * Creates the metric.
   *
   * @param name Metric name.
   * @param help One line of help.
   */
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  /**
   * Sets the series of `labels`.
   *
   * @param labels The series.
   * @param value The value.
   */
  set(labels: Labels, value: number): void {
    this.#values.set(_labelText(labels), value);
  }

  /**
   * The metric in the exposition format.
   *
   * @returns The `# HELP`, `# TYPE` and sample lines.
   */
  render(): string[] {
    return _header(this, "gauge", [...this.#values].map(([l, v]) => `${this.name}${l} ${v}`));
  }
}

/** Observations counted into buckets, with their sum and count. */
export class Histogram implements _Metric {
  /** Metric name. */
  readonly name: string;
  /** One line of help. */
  readonly help: string;
  readonly #buckets: readonly number[];
  readonly #series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();

  /**
   * Creates the metric.
   *
   * @param name Metric name (`oao_…_seconds`).
   * @param help One line of help.
   * @param buckets Upper bounds, ascending. @default {DURATION_BUCKETS}
   */
  constructor(name: string, help: string, buckets: readonly number[] = DURATION_BUCKETS) {
    this.name = name;
    this.help = help;
    this.#buckets = buckets;
  }

  /**
   * Records an observation.
   *
   * @param labels The series.
   * @param value The value (ignored unless a finite number >= 0).
   */
  observe(labels: Labels, value: number): void {
    if (!Number.isFinite(value) || value < 0) return;
    const key = _labelText(labels);
    let series = this.#series.get(key);
    if (!series) {
      series = { labels, counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    this.#buckets.forEach((bound, i) => {
      if (value <= bound) series!.counts[i]!++;
    });
    series.sum += value;
    series.count++;
  }

  /**
   * The metric in the exposition format.
   *
   * @returns The `# HELP`, `# TYPE` and sample lines.
   */
  render(): string[] {
    const lines: string[] = [];
    for (const series of this.#series.values()) {
      this.#buckets.forEach((bound, i) => {
        const labels = _labelText({ ...series.labels, le: String(bound) });
        lines.push(`${this.name}_bucket${labels} ${series.counts[i]}`);
      });
      lines.push(
        `${this.name}_bucket${_labelText({ ...series.labels, le: "+Inf" })} ${series.count}`,
      );
      lines.push(`${this.name}_sum${_labelText(series.labels)} ${series.sum}`);
      lines.push(`${this.name}_count${_labelText(series.labels)} ${series.count}`);
    }
    return _header(this, "histogram", lines);
  }
}

/** Metrics in registration order, rendered together. */
export class Registry {
  readonly #metrics: _Metric[] = [];

  /**
   * Adds a metric.
   *
   * @param metric The metric.
   * @returns The metric.
   */
  add<M extends Counter | Gauge | Histogram>(metric: M): M {
    this.#metrics.push(metric);
    return metric;
  }

  /**
   * Every metric in the exposition format.
   *
   * @returns The text (ends with a newline).
   */
  render(): string {
    return `${this.#metrics.flatMap((m) => m.render()).join("\n")}\n`;
  }
}

function _header(metric: _Metric, type: string, lines: string[]): string[] {
  return [`# HELP ${metric.name} ${metric.help}`, `# TYPE ${metric.name} ${type}`, ...lines];
}

function _labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${
    entries.map(([k, v]) =>
      `${k}="${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`
    ).join(",")
  }}`;
}
