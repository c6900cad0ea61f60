// The life of one VM NIC's VSI association as an explicit, pure transition table (after openlldp's vdp22sm.c:
// an enum of states, named events, every move from→to checked). qbg only moves a NIC on what lldpad answered or
// on what a check (a query by instance UUID) found — never on what it merely asked for: "-ing" states say a
// request is out, the settled states say what lldpad last reported.
import { qbgError } from './errors.js';

export const NIC_STATES = [
  'new', // known to qbg, never sent to lldpad
  'pre-associating',
  'pre-associated',
  'associating',
  'associated',
  'disassociating',
  'disassociated',
  'failed', // lldpad or the bridge refused (reason code + text recorded)
  'timed-out', // no answer in time: lldpad may still hold a half-made VSI ("zombie")
  'lost', // was held, is no more: lldpad restarted, bridge de-associated, keep-alive lost
] as const;
export type NicState = (typeof NIC_STATES)[number];

export const NIC_EVENTS = [
  // qbg sends a request (hook, API, reconciler, migration)
  'request-preassoc',
  'request-preassoc-rr',
  'request-assoc',
  'request-deassoc',
  // lldpad's answer to that request
  'answer-accepted',
  'answer-rejected',
  'answer-timeout',
  'answer-error',
  // lldpad tells us without being asked
  'bridge-deassoc',
  'keepalive-lost',
  // a check: what lldpad holds for this instance UUID right now
  'check-associated',
  'check-pre-associated',
  'check-missing',
  // the reconciler stops asking: the failure is permanent or its attempts are used up (until someone asks again)
  'retries-exhausted',
  // a libvirt-owned NIC (owner 'libvirt'): what lldpad holds after libvirt's own netlink request, seen by a query
  'observed-associated',
  'observed-pre-associated',
  'observed-gone',
  'observed-failed',
] as const;
export type NicEvent = (typeof NIC_EVENTS)[number];

/** States in which a request to lldpad is out: nothing else may be sent for the NIC until it is answered. */
export const IN_FLIGHT_STATES: readonly NicState[] = ['pre-associating', 'associating', 'disassociating'];
/** States in which lldpad (as last seen) holds a VSI for the NIC. */
export const HELD_STATES: readonly NicState[] = ['pre-associated', 'associated'];
/** Settled states from which a new request may start (a NIC never sits in "-ing" without a request out). */
const RESTARTABLE: readonly NicState[] = ['new', 'pre-associated', 'disassociated', 'failed', 'timed-out', 'lost'];
/** States where an association is wanted or may be half made; a request to drop it makes sense. */
const DROPPABLE: readonly NicState[] = ['pre-associated', 'associated', 'failed', 'timed-out', 'lost'];

type Row = Partial<Record<NicState, NicState>>;

function all(from: readonly NicState[], to: NicState): Row {
  return Object.fromEntries(from.map((s) => [s, to])) as Row;
}

/**
 * The table. A missing (event, state) cell is an illegal transition. Notes on the less obvious cells:
 * - request-assoc from 'associated' re-associates (the reconciler repeating it).
 * - pre-associate from 'associated' is refused: VDP would downgrade a live NIC; disassociate first.
 * - check-missing on 'disassociating' settles a de-associate that lldpad refused because it did not hold the
 *   VSI any more (vdptool's R05): the VSI is gone either way. On 'failed' / 'timed-out' it says no zombie is
 *   left (the reconciler applies it to NICs meant to be disassociated; others it simply asks again).
 * - check-associated on a 'timed-out' / 'failed' / 'lost' NIC: lldpad did finish (late answer) or still holds it.
 * - retries-exhausted settles a NIC the reconciler gave up on in 'failed' (a webhook's nic.failed); only a new
 *   request (an explicit associate, a per-NIC reconcile) moves it again.
 * - request-assoc from 'associated' with another VLAN/MAC is not sent as one ASSOCIATE: lldpad's station cannot
 *   change a held VSI's filter in place, so the service drops the old VSI first (see nic-service filterChangeWait).
 */
export const TRANSITIONS: Readonly<Record<NicEvent, Row>> = {
  'request-preassoc': all(RESTARTABLE, 'pre-associating'),
  'request-preassoc-rr': all(RESTARTABLE, 'pre-associating'),
  'request-assoc': all([...RESTARTABLE, 'associated'], 'associating'),
  'request-deassoc': all(DROPPABLE, 'disassociating'),
  'answer-accepted': { 'pre-associating': 'pre-associated', associating: 'associated', disassociating: 'disassociated' },
  'answer-rejected': all(IN_FLIGHT_STATES, 'failed'),
  'answer-timeout': all(IN_FLIGHT_STATES, 'timed-out'),
  'answer-error': all(IN_FLIGHT_STATES, 'failed'),
  'bridge-deassoc': all(HELD_STATES, 'lost'),
  'keepalive-lost': all(HELD_STATES, 'lost'),
  'check-associated': all(['associating', 'pre-associated', 'timed-out', 'failed', 'lost'], 'associated'),
  'check-pre-associated': all(['pre-associating', 'timed-out', 'failed', 'lost'], 'pre-associated'),
  'retries-exhausted': all(['failed', 'timed-out', 'lost'], 'failed'),
  // libvirt-owned NICs move only on what qbg observed in lldpad: libvirt may have (de-)associated, or failed to,
  // since the last look, so every settled state may lead to every observation (an "-ing" state never occurs: qbg
  // sends nothing for them).
  'observed-associated': all(['new', 'pre-associated', 'disassociated', 'failed', 'timed-out', 'lost'], 'associated'),
  'observed-pre-associated': all(['new', 'disassociated', 'failed', 'timed-out', 'lost'], 'pre-associated'),
  'observed-gone': all(['new', 'pre-associated', 'associated', 'failed', 'timed-out', 'lost'], 'disassociated'),
  'observed-failed': all(['new', 'pre-associated', 'associated', 'disassociated', 'timed-out', 'lost'], 'failed'),
  'check-missing': {
    associated: 'lost',
    'pre-associated': 'lost',
    disassociating: 'disassociated',
    failed: 'disassociated',
    'timed-out': 'disassociated',
  },
};

/** The next state, or undefined when the table has no cell for it. */
export function nextState(from: NicState, event: NicEvent): NicState | undefined {
  return TRANSITIONS[event][from];
}

/** The next state; an illegal move is refused with QBG_ERR_ILLEGAL_TRANSITION naming the NIC, states and event. */
export function transition(nicId: string, from: NicState, event: NicEvent): NicState {
  const to = nextState(from, event);
  if (to === undefined) {
    const targets = [...new Set(Object.values(TRANSITIONS[event]))].join(' or ');
    throw qbgError('QBG_ERR_ILLEGAL_TRANSITION', nicId, from, targets, `${event} is allowed only from ${Object.keys(TRANSITIONS[event]).join(', ')}`);
  }
  return to;
}

export function isNicState(v: unknown): v is NicState {
  return (NIC_STATES as readonly unknown[]).includes(v);
}

/** The request event for a VDP mode asked by a hook or the reconciler. */
export function requestEventFor(mode: 'assoc' | 'preassoc' | 'preassoc-rr' | 'deassoc'): NicEvent {
  switch (mode) {
    case 'assoc':
      return 'request-assoc';
    case 'preassoc':
      return 'request-preassoc';
    case 'preassoc-rr':
      return 'request-preassoc-rr';
    case 'deassoc':
      return 'request-deassoc';
  }
}

/** The settled state a VDP mode leads to when lldpad accepts it. */
export function heldStateFor(mode: 'assoc' | 'preassoc' | 'preassoc-rr' | 'deassoc'): NicState {
  return mode === 'assoc' ? 'associated' : mode === 'deassoc' ? 'disassociated' : 'pre-associated';
}
