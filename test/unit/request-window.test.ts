// The adaptive window of VDP22 requests per uplink (src/domain/request-window.ts): AIMD like TCP's congestion window.
import t from 'tap';
import { RequestWindow } from '../../src/domain/request-window.js';

/** Feed n answers of latencyMs. */
const answers = (w: RequestWindow, n: number, latencyMs = 10): void => {
  for (let i = 0; i < n; i++) w.answered(latencyMs);
};

t.test('starts at 1 and grows by one per window of answers in time, up to max', async (t) => {
  const w = new RequestWindow({ max: 4, inTimeMs: 1500 });
  t.equal(w.limit, 1, 'starts at one request');
  answers(w, 1);
  t.equal(w.limit, 2, 'one answer at size 1 → 2');
  answers(w, 1);
  t.equal(w.limit, 2, 'half a window of answers at size 2 is not enough');
  answers(w, 1);
  t.equal(w.limit, 3, 'a full window of answers at size 2 → 3');
  answers(w, 3);
  t.equal(w.limit, 4);
  answers(w, 100);
  t.equal(w.limit, 4, 'never above max');
});

t.test('an answer that came late does not grow the window', async (t) => {
  const w = new RequestWindow({ max: 8, inTimeMs: 1500 });
  answers(w, 20, 1501);
  t.equal(w.limit, 1);
  answers(w, 1, 1500);
  t.equal(w.limit, 2, 'exactly in time counts');
});

t.test('a loss halves the window, never below 1', async (t) => {
  const w = new RequestWindow({ max: 16, inTimeMs: 1500, initial: 8 });
  t.equal(w.limit, 8);
  w.lost(w.stamp);
  t.equal(w.limit, 4);
  w.lost(w.stamp);
  t.equal(w.limit, 2);
  w.lost(w.stamp);
  w.lost(w.stamp);
  t.equal(w.limit, 1, 'one request stays allowed');
  t.equal(w.losses, 4);
  t.equal(w.reductions, 4);
});

t.test('losses of requests sent before a reduction halve only once (one burst = one loss event)', async (t) => {
  const w = new RequestWindow({ max: 16, inTimeMs: 1500, initial: 8 });
  const sentTogether = [w.stamp, w.stamp, w.stamp];
  for (const s of sentTogether) w.lost(s);
  t.equal(w.limit, 4, 'three losses from one window: halved once');
  t.equal(w.losses, 3, 'all counted as losses');
  t.equal(w.reductions, 1);
  const later = w.stamp;
  w.lost(later);
  t.equal(w.limit, 2, 'a request sent after the reduction halves again');
});

t.test('grows again after a loss', async (t) => {
  const w = new RequestWindow({ max: 4, inTimeMs: 1500, initial: 4 });
  w.lost(w.stamp);
  t.equal(w.limit, 2);
  answers(w, 2);
  t.equal(w.limit, 3);
});

t.test('max 1 stays 1; a bad max is refused naming the field and the range', async (t) => {
  const w = new RequestWindow({ max: 1, inTimeMs: 1500 });
  answers(w, 50);
  t.equal(w.limit, 1);
  t.throws(() => new RequestWindow({ max: 0, inTimeMs: 1 }), { code: 'QBG_ERR_INTEGER_RANGE', message: /maxInFlight.*1.*256.*0/ });
  t.throws(() => new RequestWindow({ max: 2.5, inTimeMs: 1 }), { code: 'QBG_ERR_INTEGER_RANGE' });
  t.equal(new RequestWindow({ max: 4, inTimeMs: 1, initial: 9 }).limit, 4, 'initial is capped at max');
});
