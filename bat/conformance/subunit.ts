// A reader of the subunit v2 stream that `tempest run --subunit` writes: binary packets, each a
// status change of a test or a piece of one of its attachments (traceback, skip reason, log).
// Fed chunk by chunk, so a run's progress can be read while it is written.

/** subunit's test statuses (the low three bits of a packet's flags). */
const STATUS = [undefined, 'exists', 'inprogress', 'success', 'uxsuccess', 'skip', 'fail', 'xfail'] as const;
export type SubunitStatus = Exclude<(typeof STATUS)[number], undefined>;

export interface SubunitPacket {
  testId?: string;
  status?: SubunitStatus;
  tags?: string[];
  timestamp?: Date;
  /** A piece of an attachment: its name and bytes (an attachment may come in several packets). */
  file?: { name: string; bytes: Buffer; eof: boolean };
}

const SIGNATURE = 0xb3;
const FLAG = { testId: 0x0800, routeCode: 0x0400, timestamp: 0x0200, tags: 0x0080, fileContent: 0x0040, mimeType: 0x0020, eof: 0x0010 };

class Reader {
  constructor(private readonly buf: Buffer, public pos: number) {}

  /** subunit's varint: the top two bits of the first byte say how many bytes follow (0–3). */
  number(): number {
    const first = this.buf[this.pos];
    const extra = first >> 6;
    let value = first & 0x3f;
    for (let i = 1; i <= extra; i++) value = value * 256 + this.buf[this.pos + i];
    this.pos += 1 + extra;
    return value;
  }

  bytes(n: number): Buffer {
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  string(): string {
    return this.bytes(this.number()).toString('utf8');
  }
}

/** Splits a growing byte stream into packets. Bytes between packets that are not subunit (a stray
 *  print on stdout) are skipped. */
export class SubunitParser {
  private pending: Buffer = Buffer.alloc(0);

  /** The packets completed by `chunk`. */
  push(chunk: Buffer): SubunitPacket[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const packets: SubunitPacket[] = [];
    for (;;) {
      const start = this.pending.indexOf(SIGNATURE);
      if (start < 0) {
        this.pending = Buffer.alloc(0);
        break;
      }
      // Signature (1), flags (2) and the length (1–3 bytes: its first byte says) give the packet's size.
      const lengthBytes = this.pending.length > start + 3 ? 1 + (this.pending[start + 3] >> 6) : 4;
      if (this.pending.length < start + 3 + lengthBytes) {
        this.pending = this.pending.subarray(start);
        break;
      }
      const header = new Reader(this.pending, start + 3);
      const length = header.number();
      if (this.pending.length < start + length) {
        this.pending = this.pending.subarray(start);
        break;
      }
      packets.push(parsePacket(this.pending.subarray(start, start + length)));
      this.pending = this.pending.subarray(start + length);
    }
    return packets;
  }
}

/** One whole packet: signature, flags, length, the fields its flags announce, CRC32 (not checked:
 *  the stream comes from a pipe on this machine). */
function parsePacket(packet: Buffer): SubunitPacket {
  const flags = packet.readUInt16BE(1);
  if (flags >> 12 !== 2) throw new Error(`not a subunit v2 packet (version ${flags >> 12})`);
  const r = new Reader(packet, 3);
  r.number(); // the length, already known
  const out: SubunitPacket = {};
  if (flags & FLAG.timestamp) {
    const seconds = r.bytes(4).readUInt32BE(0);
    const nanos = r.number();
    out.timestamp = new Date(seconds * 1000 + Math.floor(nanos / 1e6));
  }
  if (flags & FLAG.testId) out.testId = r.string();
  if (flags & FLAG.tags) out.tags = Array.from({ length: r.number() }, () => r.string());
  if (flags & FLAG.mimeType) r.string();
  if (flags & FLAG.fileContent) {
    const name = r.string();
    out.file = { name, bytes: Buffer.from(r.bytes(r.number())), eof: Boolean(flags & FLAG.eof) };
  }
  const status = STATUS[flags & 0x7];
  if (status) out.status = status;
  return out;
}

export function parseSubunit(stream: Buffer): SubunitPacket[] {
  return new SubunitParser().push(stream);
}
