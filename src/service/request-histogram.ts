// The request-duration histogram of every API request, registered in qbg's prom-client registry as a metric of its
// own. prom-client's Histogram validates and hashes the label set on every observe (~5 µs, a few percent of a status
// read, which monitors poll thousands of times a second); here the caller names the series by a key it builds
// cheaply, and an observe is a Map lookup and a bucket search. The exposition is prom-client's own (the registry
// formats what get/getForPromString return, in prom-client's histogram layout), so the text is unchanged.

interface Series<L extends string> {
  labels: Record<L, string>;
  /** observations per bucket, not cumulative (index = bound; the last one is +Inf) */
  counts: number[];
  sum: number;
  count: number;
}

interface ExportValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
  /** prom-client's shape: null on buckets (exemplars are off), absent on _sum and _count */
  exemplar?: null;
}

export class RequestHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series<L>>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  /** Count one observation of `seconds` in the series `key`; labels() is called only for a series not seen yet. */
  observe(key: string, labels: () => Record<L, string>, seconds: number): void {
    let s = this.series.get(key);
    if (s === undefined) this.series.set(key, (s = { labels: labels(), counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 }));
    let i = 0;
    while (i < this.bounds.length && seconds > this.bounds[i]) i++;
    s.counts[i]++;
    s.sum += seconds;
    s.count++;
  }

  /** What the registry formats as text: buckets cumulative, then +Inf, _sum and _count, the series labels shared. */
  async getForPromString(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportValue[] }> {
    const values: ExportValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i];
        values.push({ labels: { le: this.bounds[i] }, sharedLabels: s.labels, value: acc, metricName: bucket, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON form (registry.getMetricsAsJSON): each value with its series labels merged in. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportValue[] }> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...v }) => ({ ...v, labels: { ...labels, ...sharedLabels } }));
    return data;
  }

  reset(): void {
    this.series.clear();
  }
}
