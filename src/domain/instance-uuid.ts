// Stable VSI instance ids. libvirt generates a random instanceid for every start when the XML gives none, so the
// bridge sees a new VSI after each restart or redefinition; qbg instead derives the id from what names the NIC
// for its whole life: the VM's UUID and the NIC's MAC (RFC 4122 §4.3, name-based, SHA-1 = version 5).
import { hash } from 'node:crypto';
import { parseMac, parseUuid, uuidToBytes } from './identifiers.js';

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

/** RFC 4122 name-based UUID, version 5 (SHA-1). */
export function uuidV5(namespace: string, name: string): string {
  // SHA-1(namespace bytes ‖ name) in one crypto.hash call: a Hash object per NIC cost more than the digest
  const ns = bytesOfNamespace(namespace);
  const input = Buffer.allocUnsafe(16 + Buffer.byteLength(name, 'utf8'));
  ns.copy(input, 0);
  input.write(name, 16, 'utf8');
  const b = hash('sha1', input, 'buffer').subarray(0, 16);
  b[6] = (b[6] & 0x0f) | 0x50; // version 5
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const h = b.toString('hex'); // straight from the digest: bytesToUuid would copy it first
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * The instance id of one VM NIC: the same VM UUID and MAC give the same id on every host and every run, in
 * whatever spelling they arrive (upper case, dashes in the MAC, UUID without dashes).
 */
export function stableInstanceId(vmUuid: string, mac: string): string {
  return uuidV5(QBG_INSTANCE_NAMESPACE, `${parseUuid(vmUuid, 'vmUuid')}/${parseMac(mac, 'mac')}`);
}
