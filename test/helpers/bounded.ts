// Run many awaited jobs (API calls, vdptool queries) a few at a time: enough to hide process start-up and
// scheduling latency on a busy machine, few enough not to swamp lldpad or the service under test.
/** Run work(i) for i in 0..n-1, at most `concurrency` at once; onDone sees each result as it lands. */
export async function bounded<T>(n: number, concurrency: number, work: (i: number) => Promise<T>, onDone?: (done: number) => void): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await work(i);
      onDone?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}
