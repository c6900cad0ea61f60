// The NIC association state table, checked exhaustively: every (state, event) cell either moves to a known state
// or is refused with QBG_ERR_ILLEGAL_TRANSITION, and the rules the service relies on hold for the whole table.
import t from 'tap';
import { isQbgError } from '../../src/domain/errors.js';
import {
  HELD_STATES,
  IN_FLIGHT_STATES,
  NIC_EVENTS,
  NIC_STATES,
  heldStateFor,
  nextState,
  requestEventFor,
  transition,
  type NicEvent,
  type NicState,
} from '../../src/domain/nic-state.js';

const REQUESTS: NicEvent[] = ['request-preassoc', 'request-preassoc-rr', 'request-assoc', 'request-deassoc'];
const ANSWERS: NicEvent[] = ['answer-accepted', 'answer-rejected', 'answer-timeout', 'answer-error'];

t.test('every cell either moves to a known state or is refused with the catalogue code', async (t) => {
  let legal = 0;
  let illegal = 0;
  for (const from of NIC_STATES) {
    for (const event of NIC_EVENTS) {
      const to = nextState(from, event);
      if (to !== undefined) {
        legal++;
        t.ok((NIC_STATES as readonly string[]).includes(to), `${from} --${event}--> ${to} is a state`);
        t.equal(transition('nic-1', from, event), to);
      } else {
        illegal++;
        try {
          transition('nic-1', from, event);
          t.fail(`${from} --${event}--> should be refused`);
        } catch (e) {
          t.ok(isQbgError(e) && e.code === 'QBG_ERR_ILLEGAL_TRANSITION', `${from} --${event}--> refused`);
          t.match((e as Error).message, /nic-1/);
          t.match((e as Error).message, new RegExp(from));
        }
      }
    }
  }
  t.equal(legal + illegal, NIC_STATES.length * NIC_EVENTS.length);
  t.ok(legal > 0 && illegal > 0);
});

t.test('no request while one is out: in-flight states refuse every request', async (t) => {
  for (const from of IN_FLIGHT_STATES) for (const e of REQUESTS) t.equal(nextState(from, e), undefined, `${from} + ${e}`);
});

t.test('an observation (libvirt-owned NIC) never starts or ends a request of qbg', async (t) => {
  const observed = NIC_EVENTS.filter((e) => e.startsWith('observed-'));
  t.same(observed, ['observed-associated', 'observed-pre-associated', 'observed-gone', 'observed-failed']);
  for (const from of NIC_STATES) {
    for (const e of observed) {
      const to = nextState(from, e);
      if (IN_FLIGHT_STATES.includes(from)) t.equal(to, undefined, `${from} + ${e}: qbg has a request out, libvirt's NIC never has`);
      if (to !== undefined) t.notOk(IN_FLIGHT_STATES.includes(to), `${from} + ${e} → ${to} settled`);
    }
  }
});

t.test('requests always lead to an in-flight state; answers only come from one and always settle', async (t) => {
  for (const from of NIC_STATES) {
    for (const e of REQUESTS) {
      const to = nextState(from, e);
      if (to !== undefined) t.ok(IN_FLIGHT_STATES.includes(to), `${from} + ${e} → ${to}`);
    }
    for (const e of ANSWERS) {
      const to = nextState(from, e);
      if (IN_FLIGHT_STATES.includes(from)) {
        t.not(to, undefined, `${from} is answered by ${e}`);
        t.notOk(IN_FLIGHT_STATES.includes(to!), `${from} + ${e} settles (${to})`);
      } else {
        t.equal(to, undefined, `${e} cannot arrive in settled state ${from}`);
      }
    }
  }
});

t.test('only a success, a check or an observation makes a NIC held; no event returns to new', async (t) => {
  for (const from of NIC_STATES) {
    for (const e of NIC_EVENTS) {
      const to = nextState(from, e);
      if (to !== undefined && HELD_STATES.includes(to)) {
        t.ok(e === 'answer-accepted' || e.startsWith('check-') || e.startsWith('observed-'), `${from} + ${e} → ${to}`);
      }
      t.not(to, 'new', `${from} + ${e} does not go back to new`);
    }
  }
});

t.test('every state is reachable from new, and every state has a way out except none', async (t) => {
  const seen = new Set<NicState>(['new']);
  let frontier: NicState[] = ['new'];
  while (frontier.length) {
    const next: NicState[] = [];
    for (const s of frontier) {
      for (const e of NIC_EVENTS) {
        const to = nextState(s, e);
        if (to && !seen.has(to)) (seen.add(to), next.push(to));
      }
    }
    frontier = next;
  }
  t.same([...seen].sort(), [...NIC_STATES].sort());
  for (const s of NIC_STATES) t.ok(NIC_EVENTS.some((e) => nextState(s, e) !== undefined), `${s} has a way out`);
});

t.test('the stories the service tells', async (t) => {
  const walk = (from: NicState, events: NicEvent[]): NicState => events.reduce((s, e) => transition('n', s, e), from);
  t.equal(walk('new', ['request-assoc', 'answer-accepted']), 'associated');
  t.equal(walk('new', ['request-preassoc', 'answer-accepted', 'request-assoc', 'answer-accepted']), 'associated', 'migration destination');
  t.equal(walk('associated', ['request-deassoc', 'answer-accepted']), 'disassociated', 'migration source');
  t.equal(walk('associated', ['check-missing', 'request-assoc', 'answer-accepted']), 'associated', 'lldpad restart then reconcile');
  t.equal(walk('associated', ['bridge-deassoc']), 'lost');
  t.equal(walk('new', ['request-assoc', 'answer-timeout', 'check-associated']), 'associated', 'a late answer found by a check');
  t.equal(walk('associated', ['request-deassoc', 'check-missing']), 'disassociated', 'deassoc of a VSI lldpad no longer holds');
  t.equal(walk('new', ['request-assoc', 'answer-rejected', 'request-deassoc', 'answer-accepted']), 'disassociated', 'zombie cleanup');
  t.equal(walk('new', ['request-assoc', 'answer-timeout', 'check-missing']), 'disassociated', 'no zombie left behind');
  t.equal(nextState('associated', 'request-preassoc'), undefined, 'no downgrade of a live NIC');
  // a libvirt-owned NIC: libvirt starts, destroys, starts again, then fails to associate (bit-31 trap, timeout)
  t.equal(walk('new', ['observed-associated', 'observed-gone', 'observed-associated', 'observed-gone', 'observed-failed']), 'failed', 'libvirt owns it');
  t.equal(walk('new', ['observed-pre-associated', 'observed-associated']), 'associated', 'libvirt migrated it here');
  t.equal(walk('new', ['observed-failed', 'observed-gone']), 'disassociated', 'the hidden VSI of a failed attempt cleared');
  t.equal(nextState('disassociated', 'request-deassoc'), undefined, 'nothing to drop');
});

t.test('mode helpers', async (t) => {
  t.equal(requestEventFor('assoc'), 'request-assoc');
  t.equal(requestEventFor('preassoc'), 'request-preassoc');
  t.equal(requestEventFor('preassoc-rr'), 'request-preassoc-rr');
  t.equal(requestEventFor('deassoc'), 'request-deassoc');
  for (const m of ['assoc', 'preassoc', 'preassoc-rr', 'deassoc'] as const) {
    const start: NicState = m === 'deassoc' ? 'associated' : 'new';
    t.equal(nextState(nextState(start, requestEventFor(m))!, 'answer-accepted'), heldStateFor(m), m);
  }
});
