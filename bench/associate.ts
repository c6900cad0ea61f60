import type { BenchRow } from './table.js';
export async function benchAssociate(): Promise<BenchRow[]> {
  throw new Error('not written yet');
}
