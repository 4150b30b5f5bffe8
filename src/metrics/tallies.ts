/**
 * Counters and histograms kept as plain numbers, which prom-client's registry reads only when
 * scraped: a measurement on the request path is a few map lookups and an addition.
 *
 * Why not prom-client's own Counter and Histogram: their label children still join and hash
 * the label values on every `inc()` and `observe()`; measured here (a million requests' worth
 * of a counter, two histograms and a cache lookup), a request's measurements cost about 3 µs
 * with them and under 1 µs with these (most of it the clock), against about 75 µs of CPU for
 * a whole encrypt (bench/RESULTS.md, "#7 hot path").
 * The registry sees the same JSON a prom-client metric gives (name, help, type, values), so the
 * text format and the cluster sum (AggregatorRegistry.aggregate) treat them alike.
 */
import type { Registry } from 'prom-client';

/** A label value from a caller's reach that is not a plain word becomes `other` (a last guard against cardinality). */
const LABEL_WORD = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export function labelValue(value: string): string {
  return LABEL_WORD.test(value) ? value : 'other';
}

interface Series {
  labels: Record<string, string>;
}

interface SampleJson {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * A family's series by their label values (up to three), made once each. A hit is up to three
 * map lookups and no allocation. A value that is not a plain word is `other`, and only plain
 * words are remembered as they came, so the maps stay as small as the set of real values.
 */
class SeriesByLabels<S extends Series> {
  private readonly byValues = new Map<string, Map<string, Map<string, S>>>();
  readonly all = new Map<string, S>();

  constructor(
    private readonly labelNames: readonly string[],
    private readonly make: (labels: Record<string, string>) => S,
  ) {}

  get(first = '', second = '', third = ''): S {
    return this.byValues.get(first)?.get(second)?.get(third) ?? this.miss([first, second, third]);
  }

  private miss(given: string[]): S {
    const values = this.labelNames.map((_name, index) => labelValue(given[index]!));
    const key = values.join('\u0000');
    let series = this.all.get(key);
    if (series === undefined) {
      series = this.make(Object.fromEntries(this.labelNames.map((name, index) => [name, values[index]!])));
      this.all.set(key, series);
    }
    if (values.every((value) => value !== 'other')) {
      let bySecond = this.byValues.get(given[0]!);
      if (!bySecond) this.byValues.set(given[0]!, (bySecond = new Map()));
      let byThird = bySecond.get(given[1]!);
      if (!byThird) bySecond.set(given[1]!, (byThird = new Map()));
      byThird.set(given[2]!, series);
    }
    return series;
  }
}

interface MetricOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

export interface CounterSeries extends Series {
  value: number;
}

/** A counter family (or gauge: `type`), summed over the processes of a cluster. */
export class Tally {
  readonly aggregator = 'sum';
  private readonly series: SeriesByLabels<CounterSeries>;

  constructor(
    registry: Registry,
    private readonly options: MetricOptions,
    readonly type: 'counter' | 'gauge' = 'counter',
  ) {
    this.series = new SeriesByLabels(options.labelNames ?? [], (labels) => ({ labels, value: 0 }));
    // An unlabelled family has its one series from the start (a 0 is a value too).
    if ((options.labelNames ?? []).length === 0) this.series.get();
    registry.registerMetric(this as never);
  }

  get name(): string {
    return this.options.name;
  }

  /** The series of these label values: keep it and add to its `value`. */
  labels(first?: string, second?: string, third?: string): CounterSeries {
    return this.series.get(first, second, third);
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: SampleJson[] }> {
    const values = [...this.series.all.values()].map((series) => ({ labels: series.labels, value: series.value }));
    return { name: this.options.name, help: this.options.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export interface HistogramSeries extends Series {
  /** Observations per bucket, not cumulative; the last one is above the highest bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** A histogram family, summed over the processes of a cluster. */
export class HistogramTally {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series: SeriesByLabels<HistogramSeries>;

  constructor(
    registry: Registry,
    private readonly options: MetricOptions & { buckets: readonly number[] },
  ) {
    this.series = new SeriesByLabels(options.labelNames ?? [], (labels) => ({ labels, counts: new Float64Array(options.buckets.length + 1), sum: 0, count: 0 }));
    if ((options.labelNames ?? []).length === 0) this.series.get();
    registry.registerMetric(this as never);
  }

  get name(): string {
    return this.options.name;
  }

  labels(first?: string, second?: string, third?: string): HistogramSeries {
    return this.series.get(first, second, third);
  }

  observe(series: HistogramSeries, value: number): void {
    const buckets = this.options.buckets;
    let index = 0;
    while (index < buckets.length && value > buckets[index]!) index++;
    series.counts[index]! += 1;
    series.sum += value;
    series.count += 1;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: SampleJson[] }> {
    const { name, help, buckets } = this.options;
    const values: SampleJson[] = [];
    for (const series of this.series.all.values()) {
      let cumulative = 0;
      for (let index = 0; index <= buckets.length; index++) {
        cumulative += series.counts[index]!;
        values.push({ labels: { ...series.labels, le: index < buckets.length ? buckets[index]! : '+Inf' }, value: cumulative, metricName: `${name}_bucket` });
      }
      values.push({ labels: series.labels, value: series.sum, metricName: `${name}_sum` });
      values.push({ labels: series.labels, value: series.count, metricName: `${name}_count` });
    }
    return { name, help, type: this.type, aggregator: this.aggregator, values };
  }
}
