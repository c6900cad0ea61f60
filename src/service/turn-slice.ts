/**
 * Keeps background work (a reconciler sweep) from holding the event loop for long stretches: `pace()` returns at
 * once while the current slice is shorter than `sliceMs`, else it waits for the next event-loop turn (setImmediate
 * runs after the poll phase, so HTTP requests that arrived meanwhile are served first) and starts a new slice.
 * Shared by all workers of a sweep, so the bound holds for their sum, not for each.
 */
export class TurnSlice {
  private sliceStart = performance.now();
  private waiting?: Promise<void>;

  constructor(private readonly sliceMs: number) {}

  pace(): Promise<void> | undefined {
    if (performance.now() - this.sliceStart < this.sliceMs) return undefined;
    // every worker that finds the slice spent waits for the same turn
    return (this.waiting ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.waiting = undefined;
        this.sliceStart = performance.now();
        resolve();
      }),
    ));
  }
}
