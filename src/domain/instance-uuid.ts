// Stable VSI instance ids. libvirt generates a random instanceid for every start when the XML gives none, so the
// bridge sees a new VSI after each restart or redefinition; qbg instead derives the id from what names the NIC
// for its whole life: the VM's UUID and the NIC's MAC (RFC 4122 §4.3, name-based, SHA-1 = version 5).
import { parseMac, parseUuid, uuidToBytes } from './identifiers.js';
import { sha1 } from './sha1.js';

/** qbg's own UUIDv5 namespace: fixed forever, changing it would change every NIC's instance id. */
export const QBG_INSTANCE_NAMESPACE = '5f368b07-04bd-46f6-98a0-3b746efe7f0f';

/** Namespace bytes by namespace UUID: the same one or two namespaces are used for every NIC. */
const namespaceBytes = new Map<string, Buffer>();

function bytesOfNamespace(namespace: string): Buffer {
  let b = namespaceBytes.get(namespace);
  if (b === undefined) {
    b = uuidToBytes(parseUuid(namespace, 'namespace'));
    if (namespaceBytes.size >= 16) namespaceBytes.clear();
    namespaceBytes.set(namespace, b);
  }
  return b;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** namespace bytes ‖ UTF-8 name, reused between calls (all synchronous) */
let message = new Uint8Array(128);

/** RFC 4122 name-based UUID, version 5 (SHA-1). */
export function uuidV5(namespace: string, name: string): string {
  // SHA-1(namespace bytes ‖ name), the message built in place: a name qbg derives is ASCII, copied code by code
  const ns = bytesOfNamespace(namespace);
  let length = 16 + name.length;
  if (message.length < length) message = new Uint8Array(length * 2);
  message.set(ns, 0);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x80) {
      const utf8 = Buffer.from(name, 'utf8');
      length = 16 + utf8.length;
      if (message.length < length) message = new Uint8Array(length * 2);
      message.set(ns, 0);
      message.set(utf8, 16);
      break;
    }
    message[16 + i] = c;
  }
  const b = sha1(message, length);
  b[6] = (b[6] & 0x0f) | 0x50; // version 5
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  return (
    HEX[b[0]] + HEX[b[1]] + HEX[b[2]] + HEX[b[3]] + '-' + HEX[b[4]] + HEX[b[5]] + '-' + HEX[b[6]] + HEX[b[7]] + '-' +
    HEX[b[8]] + HEX[b[9]] + '-' + HEX[b[10]] + HEX[b[11]] + HEX[b[12]] + HEX[b[13]] + HEX[b[14]] + HEX[b[15]]
  );
}

/**
 * The instance id of one VM NIC: the same VM UUID and MAC give the same id on every host and every run, in
 * whatever spelling they arrive (upper case, dashes in the MAC, UUID without dashes).
 */
export function stableInstanceId(vmUuid: string, mac: string): string {
  return uuidV5(QBG_INSTANCE_NAMESPACE, `${parseUuid(vmUuid, 'vmUuid')}/${parseMac(mac, 'mac')}`);
}
