// qbg admin page: plain ES module, no framework. Every piece of data comes from qbg's HTTP API with the token the
// user signed in with, so the page can show nothing the API would not give that token.
const $ = (sel, root = document) => root.querySelector(sel);
const TOKEN_KEY = 'qbg.token';
const NIC_STATES = ['new', 'pre-associating', 'pre-associated', 'associating', 'associated', 'disassociating',
  'disassociated', 'failed', 'timed-out', 'lost'];

const state = { nicApi: false, token: '', role: '', nics: new Map(), historyOf: '', events: undefined, readyTimer: undefined, notice: undefined };

/** Build an element; children are nodes or text (never parsed as HTML: descriptions are user input). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  return el;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? body?.message ?? `HTTP ${status}`); // qbg says it in "error" (src/domain/errors.ts)
    this.status = status;
    this.code = body?.code;
  }
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

function showError(e) {
  const p = $('#error');
  p.textContent = e ? (e.code ? `${e.code}: ${e.message}` : String(e.message ?? e)) : '';
  p.hidden = !e;
}

// ---- sign-in -------------------------------------------------------------------------------------------------

/**
 * qbg has no "who am I" route; ask an admin-only route with an empty body instead: the role check runs before
 * validation, so an admin gets 400 (nothing is created), anyone else 403 — no side effect either way.
 */
async function probeRole() {
  await api('GET', '/types'); // 401 here = bad token
  try {
    await api('POST', '/types', {});
  } catch (e) {
    if (e.status === 400) return 'admin';
    if (e.status === 403) return e.message.includes('hook') ? 'hook' : 'monitor';
    throw e;
  }
  return 'admin';
}

async function signIn(token) {
  state.token = token;
  try {
    state.role = await probeRole();
  } catch (e) {
    state.token = '';
    showError(e.status === 401 ? { code: e.code, message: 'that token is not known to qbg' } : e);
    $('#token').focus();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  showError(undefined);
  $('#signin').hidden = true;
  $('#session').hidden = false;
  $('#role').textContent = state.role;
  document.body.dataset.role = state.role;
  for (const el of document.querySelectorAll('.admin-only')) el.hidden = state.role !== 'admin';
  $('#main').hidden = false;
  // Stream first, then the lists: a transition between the two is replayed onto the list (see loadNics).
  openEvents();
  await Promise.all([loadUplinks(), loadNics(), loadTypes(), checkReady(), loadFleet()]);
  state.readyTimer = setInterval(checkReady, 10_000);
  $('#signout').focus();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.events?.close();
  clearInterval(state.readyTimer);
  Object.assign(state, { token: '', role: '', events: undefined, historyOf: '' });
  state.nics.clear();
  $('#main').hidden = true;
  $('#session').hidden = true;
  $('#signin').hidden = false;
  $('#token').value = '';
  $('#token').focus();
}

// ---- banner: lldpad reachability and reconciler repairs --------------------------------------------------------

function setBanner(level, text) {
  const b = $('#banner');
  b.hidden = !text;
  b.className = level ?? '';
  b.textContent = text ?? '';
}

let lastReady;
async function checkReady() {
  try {
    // /readyz answers 503 with a body naming the failing checks: read it either way.
    const res = await fetch('/readyz');
    lastReady = await res.json();
  } catch {
    lastReady = { status: 'not-ready', failing: ['qbg'], checks: [{ name: 'qbg', ok: false, detail: 'qbg does not answer' }] };
  }
  renderBanner();
}

function renderBanner() {
  const failing = (lastReady?.checks ?? []).filter((c) => !c.ok);
  const lldpadDown = failing.some((c) => c.name === 'lldpad') || state.notice?.kind === 'lldpad-unreachable';
  const parts = [];
  if (lldpadDown) parts.push('lldpad is unreachable: no VSI can be associated or checked until it answers.');
  for (const c of failing.filter((c) => c.name !== 'lldpad')) parts.push(`${c.name}: ${c.detail ?? 'failing'}.`);
  if (state.notice?.kind === 'reconcile-started') {
    const n = state.notice.detail?.nics ?? state.notice.detail?.count;
    parts.push(`The reconciler is repairing associations${n !== undefined ? ` (${n} NICs)` : ''}…`);
  }
  if (state.notice?.kind === 'lldpad-restarted') parts.push('lldpad restarted: its VSIs are being restored.');
  setBanner(lldpadDown || failing.length ? 'bad' : parts.length ? 'warn' : undefined, parts.join(' ') || undefined);
}

// ---- uplinks ---------------------------------------------------------------------------------------------------

const yesNo = (v) => (v ? 'yes' : 'no');

async function loadUplinks() {
  const tbody = $('#uplinks tbody');
  let list;
  try {
    list = (await api('GET', '/uplinks')).uplinks;
  } catch (e) {
    tbody.replaceChildren(h('tr', {}, h('td', { colspan: 7 }, `cannot read uplinks: ${e.message}`)));
    return;
  }
  if (!list.length) return tbody.replaceChildren(h('tr', {}, h('td', { colspan: 7 }, 'no uplink configured')));
  tbody.replaceChildren(...list.map((u) => {
    const b = u.bridge;
    const n = u.negotiated;
    return h('tr', { 'data-uplink': u.uplink },
      h('th', { scope: 'row' }, u.uplink, u.netns ? h('small', {}, ` (netns ${u.netns})`) : ''),
      h('td', {}, u.lldpadPid ? `pid ${u.lldpadPid}` : u.error ? u.error.message : 'not running'),
      h('td', {}, `${u.desired.role} / ${u.actual?.role ?? 'unknown'}`),
      h('td', { class: u.inSync ? 'ok' : 'bad' }, u.inSync ? 'yes' : `no: ${u.diff.map((d) => d.field).join(', ')}`),
      h('td', { class: u.peerEvbSeen ? 'ok' : 'bad' }, yesNo(u.peerEvbSeen)),
      h('td', {}, b ? `RR capable ${yesNo(b.reflectiveRelayCapable)}, RR on ${yesNo(b.reflectiveRelayOn)}, group id ${yesNo(b.groupId)}` : '—'),
      h('td', {}, n ? `ECP retries ${n.ecpRetries}, RTE ${n.ecpRte}, RKA ${n.vdpRka}, RWD ${n.vdpRwd}, RR ${n.reflectiveRelayStatus}` : '—'),
    );
  }));
}

// ---- NICs ------------------------------------------------------------------------------------------------------

function nicFilter() {
  const f = new FormData($('#nic-filter'));
  const q = new URLSearchParams();
  for (const k of ['vm', 'uplink', 'state', 'type']) {
    const v = String(f.get(k) ?? '').trim();
    if (v) q.set(k, v);
  }
  return q;
}

function matchesFilter(nic, q) {
  return (!q.get('vm') || nic.vmUuid === q.get('vm').toLowerCase()) && (!q.get('uplink') || nic.uplink === q.get('uplink'))
    && (!q.get('state') || nic.state === q.get('state')) && (!q.get('type') || nic.typeName === q.get('type'));
}

async function loadNics() {
  const note = $('#nics-note');
  const q = nicFilter();
  q.set('limit', '500');
  // Transitions that arrive while the list is in flight may be newer than what it read: replay them onto it.
  const during = [];
  loadsInFlight.add(during);
  try {
    const data = await api('GET', `/nics?${q}`);
    const items = data.items ?? data.nics ?? [];
    state.nicApi = true;
    state.nics = new Map(items.map((n) => [n.id, n]));
    for (const e of during) applyTransition(state.nics.get(e.nicId), e);
    note.hidden = !(data.total > items.length);
    note.textContent = `showing ${items.length} of ${data.total} NICs: narrow the filter to see the others`;
  } catch (e) {
    // Without the NIC API (an older qbg) the table still fills from the live event stream.
    state.nicApi = e.status !== 404;
    if (state.nicApi) state.nics.clear();
    note.hidden = false;
    note.textContent = e.status === 404 ? 'this qbg has no NIC list API: showing NICs seen on the live event stream' : `cannot read NICs: ${e.message}`;
  } finally {
    loadsInFlight.delete(during);
  }
  renderNics();
}

function reasonText(x) {
  if (x.reasonCode === undefined && !x.reason) return '';
  return `${x.reason ?? ''}${x.reasonCode !== undefined ? ` (code ${x.reasonCode})` : ''}`;
}

function nicRow(n) {
  return h('tr', { id: `nic-${n.id}`, 'data-nic': n.id, 'data-state': n.state },
    h('td', { class: 'mono' }, n.vmUuid),
    h('td', { class: 'mono' }, n.mac),
    h('td', {}, n.uplink),
    h('td', {}, n.typeName ? `${n.typeName} v${n.typeIdVersion}` : ''),
    h('td', {}, n.vlan ?? ''),
    h('td', { class: 'owner' }, n.owner ?? ''),
    h('td', { class: `state state-${n.state}` }, n.state),
    h('td', { class: 'reason' }, reasonText(n)),
    h('td', {}, h('button', { type: 'button', 'aria-label': `History of NIC ${n.mac} of VM ${n.vmUuid}`, onclick: () => showHistory(n.id) }, 'History')),
  );
}

function renderNics() {
  const rows = [...state.nics.values()].map(nicRow);
  $('#nics tbody').replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 9 }, 'no NIC'))]));
}

let reloadTimer;
function reloadNicsSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(loadNics, 200);
}

const loadsInFlight = new Set();

function applyTransition(nic, e) {
  if (!nic) return;
  Object.assign(nic, { state: e.to, reasonCode: e.reasonCode, reason: e.reason });
  if (!e.reason) delete nic.reason;
  if (e.reasonCode === undefined) delete nic.reasonCode;
}

/** A transition from the event stream: update the row in place, or reload when the NIC is new to the page. */
function onTransition(e) {
  for (const during of loadsInFlight) during.push(e);
  const nic = state.nics.get(e.nicId);
  $('#live').textContent = `NIC ${e.mac} of VM ${e.vmUuid}: ${e.from} → ${e.to}${e.reason ? `, ${e.reason}` : ''}`;
  if (!nic) {
    if (!matchesFilter({ vmUuid: e.vmUuid, uplink: e.uplink, state: e.to }, withoutType(nicFilter()))) return;
    // Show it at once from the event; the reload then fills in what an event does not carry (type, VLAN).
    state.nics.set(e.nicId, { id: e.nicId, vmUuid: e.vmUuid, mac: e.mac, uplink: e.uplink, state: e.to, reasonCode: e.reasonCode, reason: e.reason });
    renderNics();
    if (state.nicApi) reloadNicsSoon();
  } else {
    applyTransition(nic, e);
    $(`[data-nic="${CSS.escape(e.nicId)}"]`)?.replaceWith(nicRow(nic));
  }
  if (state.historyOf === e.nicId) appendHistory([e]);
}
const withoutType = (q) => (q.delete('type'), q); // a transition does not carry the type: let the reload decide

async function showHistory(id) {
  const panel = $('#history');
  state.historyOf = id;
  $('#history-caption').textContent = `Transitions of NIC ${id}, oldest first`;
  $('#history tbody').replaceChildren();
  panel.hidden = false;
  try {
    const data = await api('GET', `/nics/${encodeURIComponent(id)}/history`);
    appendHistory(data.items ?? data.history ?? []);
  } catch (e) {
    $('#history tbody').replaceChildren(h('tr', {}, h('td', { colspan: 5 }, `cannot read history: ${e.message}`)));
  }
  panel.focus();
}

function appendHistory(entries) {
  const tbody = $('#history tbody');
  for (const e of entries) {
    if (tbody.querySelector(`[data-seq="${e.seq}"]`)) continue; // the stream may repeat what the fetch returned
    tbody.append(h('tr', { 'data-seq': e.seq },
      h('td', {}, e.seq), h('td', {}, new Date(e.at).toLocaleString()), h('td', {}, `${e.from} → ${e.to}`),
      h('td', {}, e.cause), h('td', { class: 'reason' }, reasonText(e))));
  }
}

// ---- the event stream ------------------------------------------------------------------------------------------

function openEvents() {
  // EventSource cannot send an Authorization header: /events accepts ?token= for exactly this.
  const q = state.token ? `?token=${encodeURIComponent(state.token)}` : '';
  const es = new EventSource(`/events${q}`);
  state.events = es;
  es.addEventListener('nic-transition', (m) => onTransition(JSON.parse(m.data)));
  for (const kind of ['lldpad-unreachable', 'lldpad-reachable', 'lldpad-restarted', 'reconcile-started', 'reconcile-finished', 'uplink-drift']) {
    es.addEventListener(kind, (m) => onNotice(JSON.parse(m.data)));
  }
  const live = (on) => {
    document.body.dataset.live = on ? 'yes' : 'no';
    $('#live-status').textContent = on ? 'live' : 'reconnecting…';
  };
  es.addEventListener('open', () => live(true));
  es.addEventListener('error', () => live(false)); // EventSource reconnects by itself and resumes by event id
}

function onNotice(n) {
  if (n.kind === 'lldpad-unreachable' || n.kind === 'reconcile-started' || n.kind === 'lldpad-restarted') state.notice = n;
  else if (n.kind === 'lldpad-reachable' || n.kind === 'reconcile-finished') state.notice = undefined;
  if (n.kind === 'uplink-drift') loadUplinks();
  if (n.kind === 'reconcile-finished' || n.kind === 'lldpad-reachable') checkReady();
  renderBanner();
}

// ---- VSI types -------------------------------------------------------------------------------------------------

const vlanText = (ranges) => (ranges.length ? ranges.map((r) => (r.from === r.to ? r.from : `${r.from}-${r.to}`)).join(', ') : 'any');

async function loadTypes() {
  const { types } = await api('GET', '/types');
  const admin = state.role === 'admin';
  const rows = types.map((t) => h('tr', { 'data-type': t.name },
    h('th', { scope: 'row' }, t.name), h('td', {}, t.typeId), h('td', {}, t.typeIdVersion),
    h('td', { class: 'mono' }, t.managerId ?? t.managerId2), h('td', {}, t.filterFormat),
    h('td', {}, vlanText(t.allowedVlans)), h('td', {}, t.description),
    admin ? h('td', {},
      h('button', { type: 'button', 'aria-label': `New version of ${t.name}`, onclick: () => editType(t) }, 'New version'), ' ',
      h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${t.name}`, onclick: () => deleteType(t.name) }, 'Delete'))
      : undefined,
  ));
  $('#types tbody').replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: admin ? 8 : 7 }, 'no VSI type'))]));
}

let editing; // name of the type a new version is being made of, else a create
let editingVersion;
function editType(t) {
  const f = $('#type-form').elements; // not form.name: that is the form's own name attribute
  editing = t.name;
  editingVersion = t.typeIdVersion; // sent as baseVersion: if someone changed the type meanwhile, qbg says so (409)
  $('#type-form-h').textContent = `New version of ${t.name}`;
  f.name.value = t.name;
  f.name.readOnly = true;
  f.typeId.value = t.typeId;
  f.typeIdVersion.value = '';
  f.typeIdVersion.required = false;
  f.typeIdVersion.placeholder = `next free after ${t.typeIdVersion}`;
  f.managerId.value = t.managerId ?? '';
  f.filterFormat.value = t.filterFormat;
  f.allowedVlans.value = t.allowedVlans.length ? vlanText(t.allowedVlans) : '';
  f.description.value = t.description;
  $('#type-form button[type=submit]').textContent = 'Create version';
  $('#type-cancel').hidden = false;
  f.allowedVlans.focus();
}

function resetTypeForm() {
  const f = $('#type-form').elements;
  editing = undefined;
  $('#type-form').reset();
  f.name.readOnly = false;
  f.typeIdVersion.required = true;
  f.typeIdVersion.placeholder = '';
  $('#type-form-h').textContent = 'New VSI type';
  $('#type-form button[type=submit]').textContent = 'Create type';
  $('#type-cancel').hidden = true;
}

function typeBody(f) {
  const body = { name: f.name.value.trim(), typeId: Number(f.typeId.value), filterFormat: f.filterFormat.value,
    description: f.description.value };
  if (f.typeIdVersion.value !== '') body.typeIdVersion = Number(f.typeIdVersion.value);
  if (f.managerId.value !== '') body.managerId = Number(f.managerId.value);
  const vlans = f.allowedVlans.value.split(',').map((s) => s.trim()).filter(Boolean);
  body.allowedVlans = vlans.map((v) => (/^\d+$/.test(v) ? Number(v) : v));
  return body;
}

async function submitType(ev) {
  ev.preventDefault();
  const f = ev.target;
  try {
    const body = typeBody(f.elements);
    if (editing) {
      const { name, ...changes } = body;
      await api('PUT', `/types/${encodeURIComponent(editing)}?baseVersion=${editingVersion}`, changes);
    } else {
      await api('POST', '/types', body);
    }
    showError(undefined);
    resetTypeForm();
    await loadTypes();
    f.elements.name.focus();
  } catch (e) {
    showError(e);
  }
}

async function deleteType(name) {
  if (!confirm(`Delete VSI type ${name} with all its versions?`)) return;
  try {
    await api('DELETE', `/types/${encodeURIComponent(name)}`);
    showError(undefined);
    await loadTypes();
  } catch (e) {
    showError(e);
  }
}

// ---- fleet (many hosts on one PostgreSQL): shown only when this qbg is part of one ------------------------------

const fleet = { next: undefined };

async function loadFleet() {
  let status;
  try {
    status = await api('GET', '/fleet/status');
  } catch {
    status = { enabled: false }; // an older qbg without fleet routes
  }
  $('#fleet').hidden = !status.enabled;
  if (!status.enabled) return;
  const outbox = status.outbox.rows ? `${status.outbox.rows} NIC change(s) waiting to be published` : 'all NIC changes published';
  $('#fleet-status').textContent = `This host is ${status.host} on ${status.postgres}: ${status.reachable ? 'reachable' : `PostgreSQL UNREACHABLE (${status.lastError ?? 'no answer'}); associations go on, type changes wait`}; ${outbox}.`;
  try {
    const { hosts } = await api('GET', '/fleet/hosts');
    $('#fleet-hosts tbody').replaceChildren(...hosts.map((x) => h('tr', { 'data-host': x.host, 'data-stale': x.stale ? 'yes' : 'no' },
      h('th', { scope: 'row' }, x.host),
      h('td', { class: x.stale ? 'state state-lost' : '' }, `${x.secondsSinceSeen} s ago${x.stale ? ' (stale)' : ''}`),
      h('td', {}, x.outboxRows ? `${x.outboxRows} (${x.outboxLagSeconds} s behind)` : '0'),
      h('td', {}, Object.entries(x.nics).map(([st, n]) => `${st} ${n}`).join(', ') || 'none'),
    )));
    const { findings } = await api('GET', '/fleet/findings');
    $('#fleet-findings').textContent = findings.length ? `Fleet checks: ${findings.map(findingText).join('; ')}` : 'Fleet checks: nothing found.';
  } catch (e) {
    $('#fleet-findings').textContent = `cannot read the fleet: ${e.message}`;
  }
  await loadFleetNics(false);
}

function findingText(f) {
  const d = f.detail;
  if (f.check === 'double-held') return `VSI ${d.instanceUuid} held on ${d.hosts.join(' and ')}`;
  if (f.check === 'migration-source-holding') return `VSI ${d.instanceUuid} still held by ${d.sources.join(', ')} after ${d.destination} associated it`;
  return `host ${d.host} stale with ${d.associatedNics} associated NIC(s)`;
}

async function loadFleetNics(more) {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData($('#fleet-filter'))) if (v) q.set(k, String(v));
  q.set('limit', '100');
  if (more && fleet.next) q.set('cursor', fleet.next);
  try {
    const page = await api('GET', `/fleet/nics?${q}`);
    fleet.next = page.next;
    const rows = page.items.map((n) => h('tr', { 'data-fleet-nic': `${n.host}/${n.id}` },
      h('td', {}, n.host), h('td', { class: 'mono' }, n.vmUuid), h('td', { class: 'mono' }, n.mac), h('td', {}, n.uplink),
      h('td', {}, `${n.typeName} v${n.typeIdVersion}`), h('td', {}, n.vlan), h('td', { class: `state state-${n.state}` }, n.state),
      h('td', { class: 'owner' }, n.owner ?? ''), h('td', { class: 'reason' }, reasonText(n))));
    const body = $('#fleet-nics tbody');
    if (more) body.append(...rows);
    else body.replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 9 }, 'no NIC'))]));
    $('#fleet-more').hidden = !page.next;
  } catch (e) {
    showError(e);
  }
}

// ---- wiring ----------------------------------------------------------------------------------------------------

function init() {
  const sel = $('#nic-filter select[name=state]');
  for (const s of NIC_STATES) sel.append(h('option', {}, s));
  $('#signin').addEventListener('submit', (ev) => {
    ev.preventDefault();
    signIn($('#token').value.trim());
  });
  $('#signout').addEventListener('click', signOut);
  $('#nic-filter').addEventListener('submit', (ev) => {
    ev.preventDefault();
    loadNics();
  });
  const fleetSel = $('#fleet-filter select[name=state]');
  for (const s of NIC_STATES) fleetSel.append(h('option', {}, s));
  $('#fleet-filter').addEventListener('submit', (ev) => {
    ev.preventDefault();
    loadFleetNics(false);
  });
  $('#fleet-more').addEventListener('click', () => loadFleetNics(true));
  $('#type-form').addEventListener('submit', submitType);
  $('#type-cancel').addEventListener('click', resetTypeForm);
  $('#history-close').addEventListener('click', () => {
    state.historyOf = '';
    $('#history').hidden = true;
  });
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved !== null) signIn(saved);
  else $('#token').focus();
}

init();
