import type { BenchRow } from './table.js';
export async function benchReassociate(): Promise<BenchRow[]> {
  throw new Error('not written yet');
}
