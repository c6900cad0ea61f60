// Desired EVB uplink config: validation (field + range in every error), defaults, diff; and the parser of
// lldptool's EVB TLV print, fed with text captured from the lab's real lldpad.
import t from 'tap';
import {
  describeChanges,
  diffEvbSettings,
  EVB_DEFAULTS,
  EVB_RANGES,
  evbSettingsOf,
  parseUplinkConfig,
} from '../../src/domain/evb-config.js';
import { isQbgError } from '../../src/domain/errors.js';
import { parseEvbTlvText, parseKeyValues } from '../../src/lldpad/evb-tlv-text.js';

function errorOf(fn: () => unknown): { code: string; field?: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isQbgError(e)) return { code: e.code, field: e.field, message: e.message };
    throw e;
  }
  throw new Error('expected an error');
}

t.test('defaults fill what the user leaves out; EVB is turned on', async (t) => {
  const cfg = parseUplinkConfig({ uplink: 'eth0' });
  t.same(cfg, { uplink: 'eth0', ...EVB_DEFAULTS });
  t.equal(cfg.adminStatus, 'rxtx');
  t.equal(cfg.evbTx, true);
  t.equal(cfg.role, 'station');
  t.notOk('netns' in cfg);
});

t.test('all fields accepted at their bounds; strings from CLI flags are converted', async (t) => {
  const cfg = parseUplinkConfig({
    uplink: 's0',
    netns: 'qbg-ab12-st1',
    adminStatus: 'rx',
    evbTx: 'no',
    role: 'bridge',
    gpid: true,
    reflectiveRelay: 'yes',
    ecpRetries: '7',
    ecpRte: 0,
    vdpRka: 31,
    vdpRwd: '0',
  });
  t.same(cfg, {
    uplink: 's0',
    netns: 'qbg-ab12-st1',
    adminStatus: 'rx',
    evbTx: false,
    role: 'bridge',
    gpid: true,
    reflectiveRelay: true,
    ecpRetries: 7,
    ecpRte: 0,
    vdpRka: 31,
    vdpRwd: 0,
  });
});

t.test('every out-of-range number names the field and the whole range', async (t) => {
  for (const [field, [lo, hi]] of Object.entries(EVB_RANGES)) {
    for (const bad of [hi + 1, lo - 1, 1.5, 'x', null, '']) {
      const e = errorOf(() => parseUplinkConfig({ uplink: 'eth0', [field]: bad }));
      t.equal(e.code, 'QBG_ERR_INTEGER_RANGE', `${field}=${String(bad)}`);
      t.equal(e.field, field);
      t.match(e.message, `${field} must be an integer ${lo}–${hi}`);
    }
  }
});

t.test('enums, booleans, names and unknown fields', async (t) => {
  let e = errorOf(() => parseUplinkConfig({ uplink: 'eth0', adminStatus: 'on' }));
  t.same([e.code, e.field], ['QBG_ERR_ENUM', 'adminStatus']);
  t.match(e.message, 'rx, tx, rxtx, disabled');
  e = errorOf(() => parseUplinkConfig({ uplink: 'eth0', role: 'switch' }));
  t.same([e.code, e.field], ['QBG_ERR_ENUM', 'role']);
  e = errorOf(() => parseUplinkConfig({ uplink: 'eth0', gpid: 1 }));
  t.same([e.code, e.field], ['QBG_ERR_FIELD_TYPE', 'gpid']);
  e = errorOf(() => parseUplinkConfig({ uplink: 'eth0', ecpRetry: 3 }));
  t.same([e.code, e.field], ['QBG_ERR_UNKNOWN_FIELD', 'ecpRetry']);
  t.match(e.message, 'ecpRetries');
  for (const bad of ['', 'a'.repeat(16), 'eth 0', 'eth/0', '-x', 'eth0:1', 5]) {
    e = errorOf(() => parseUplinkConfig({ uplink: bad }));
    t.same([e.code, e.field], ['QBG_ERR_IFNAME_FORMAT', 'uplink'], JSON.stringify(bad));
  }
  t.equal(parseUplinkConfig({ uplink: 'a'.repeat(15) }).uplink, 'a'.repeat(15));
  e = errorOf(() => parseUplinkConfig({}));
  t.same([e.code, e.field], ['QBG_ERR_FIELD_REQUIRED', 'uplink']);
  e = errorOf(() => parseUplinkConfig({ uplink: 'eth0', netns: '../x' }));
  t.same([e.code, e.field], ['QBG_ERR_NAME_FORMAT', 'netns']);
  e = errorOf(() => parseUplinkConfig([]));
  t.equal(e.code, 'QBG_ERR_FIELD_TYPE');
});

t.test('the name from the URL path is used, and must agree with the body', async (t) => {
  t.equal(parseUplinkConfig({ ecpRte: 9 }, 'eth1').uplink, 'eth1');
  t.equal(parseUplinkConfig({ uplink: 'eth1' }, 'eth1').uplink, 'eth1');
  t.equal(errorOf(() => parseUplinkConfig({ uplink: 'eth2' }, 'eth1')).code, 'QBG_ERR_BAD_REQUEST');
  t.same(errorOf(() => parseUplinkConfig({}, 'bad name')).field, 'name');
});

t.test('diff lists only what differs, in apply order, and says from→to', async (t) => {
  const desired = evbSettingsOf(parseUplinkConfig({ uplink: 'eth0', ecpRte: 9, reflectiveRelay: true }));
  t.same(diffEvbSettings(desired, desired), []);
  const actual = { ...desired, ecpRte: 8, adminStatus: 'disabled' as const, evbTx: false };
  const d = diffEvbSettings(desired, actual);
  t.same(
    d.map((c) => c.field),
    ['adminStatus', 'evbTx', 'ecpRte'],
  );
  t.same(d[2], { field: 'ecpRte', actual: 8, desired: 9 });
  t.equal(describeChanges(d), 'adminStatus disabled→rxtx, evbTx false→true, ecpRte 8→9');
  const unread = diffEvbSettings(desired, {});
  t.equal(unread.length, Object.keys(EVB_DEFAULTS).length, 'nothing known: everything differs');
  t.match(describeChanges(unread), /^adminStatus \?→rxtx/);
});

// Captured from the lab: station lldpad after the exchange, and the bridge's TLV as the station received it.
const LOCAL = `EVB Configuration TLV
\tbridge:bgid,rrcap,rrctr(0x7)
\tstation:sgid,rrreq,rrstat(0xd)
\tretries:3 rte:8
\tmode:station r/l:1 rwd:20
\tr/l:1 rka:20
`;
const NEIGHBOR = `Chassis ID TLV
\tMAC: 12:79:69:77:8d:57
Port ID TLV
\tMAC: 12:79:69:77:8d:57
Time to Live TLV
\t120
EVB Configuration TLV
\tbridge:bgid,rrcap(0x6)
\tstation:(00)
\tretries:3 rte:8
\tmode:bridge r/l:0 rwd:20
\tr/l:0 rka:20
End of LLDPDU TLV
`;

t.test('EVB TLV text: local and neighbor prints', async (t) => {
  t.same(parseEvbTlvText(LOCAL), {
    bridge: { status: 7, bgid: true, rrcap: true, rrctr: true },
    station: { status: 0xd, sgid: true, rrreq: true, rrstat: 'yes' },
    retries: 3,
    rte: 8,
    mode: 'station',
    rwd: 20,
    rwdRemote: true,
    rka: 20,
    rkaRemote: true,
  });
  const peer = parseEvbTlvText(NEIGHBOR);
  t.same(peer?.bridge, { status: 6, bgid: true, rrcap: true, rrctr: false });
  t.same(peer?.station, { status: 0, sgid: false, rrreq: false, rrstat: 'no' });
  t.equal(peer?.mode, 'bridge');
  t.equal(peer?.rkaRemote, false);
  t.equal(parseEvbTlvText(LOCAL.replace('0xd', '0xf'))?.station.rrstat, 'unknown', 'RRSTAT 3: nothing heard from the bridge');
  t.equal(parseEvbTlvText(''), undefined, 'empty print: tx off or nothing received');
  t.equal(parseEvbTlvText('EVB Configuration TLV\n\tbridge:(00)\n'), undefined, 'truncated print is not a TLV');
});

t.test('key=value print of lldptool -c', async (t) => {
  t.same(parseKeyValues('vdprka=20\nenableTx=no\n\nadminStatus = rxtx\n'), { vdprka: '20', enabletx: 'no', adminstatus: 'rxtx' });
});
