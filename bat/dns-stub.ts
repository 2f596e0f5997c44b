// A tiny DNS server on the host's loopback for tests of tenants' DNS (docs/egress.md, "DNS"): the
// cluster is set up with --egress-dns 127.0.0.1#PORT, and this answers A queries for names under
// one zone with one address, so no query ever leaves the machine. Everything else is NXDOMAIN.
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';

export interface DnsStub {
  /** The names asked, in order (lower case, no trailing dot). */
  asked: string[];
  close(): void;
}

/** The question's name and where the question ends, or undefined for what is not one query. */
function question(msg: Buffer): { name: string; end: number; type: number } | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  while (at < msg.length && msg[at] !== 0) {
    const len = msg[at];
    if (len > 63 || at + 1 + len > msg.length) return undefined;
    labels.push(msg.subarray(at + 1, at + 1 + len).toString('latin1'));
    at += 1 + len;
  }
  if (at + 5 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), end: at + 5, type: msg.readUInt16BE(at + 1) };
}

function answer(msg: Buffer, zone: string, address: string): Buffer | undefined {
  const q = question(msg);
  if (!q) return undefined;
  const known = q.name === zone || q.name.endsWith(`.${zone}`);
  const withAnswer = known && q.type === 1;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
  header.writeUInt16BE(0x8180 | (msg.readUInt16BE(2) & 0x0100) | (known ? 0 : 3), 2); // response, RA, RD as asked, NXDOMAIN when unknown
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(withAnswer ? 1 : 0, 6);
  const parts = [header, msg.subarray(12, q.end)];
  if (withAnswer) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(1, 2); // A
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(4, 10);
    address.split('.').forEach((o, i) => rr.writeUInt8(Number(o), 12 + i));
    parts.push(rr);
  }
  return Buffer.concat(parts);
}

/** Serves `zone` → `address` on 127.0.0.1:`port` (UDP). */
export async function startDnsStub(port: number, zone: string, address: string): Promise<DnsStub> {
  const socket: Socket = createSocket('udp4');
  const asked: string[] = [];
  socket.on('message', (msg, from) => {
    const q = question(msg);
    if (q) asked.push(q.name);
    const reply = answer(msg, zone, address);
    if (reply) socket.send(reply, from.port, from.address);
  });
  socket.bind(port, '127.0.0.1');
  await once(socket, 'listening');
  return { asked, close: () => socket.close() };
}
