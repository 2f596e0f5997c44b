// A tar archive of regular files in memory (POSIX ustar, with a pax header for a path over 100
// bytes), as Docker's PUT /containers/{id}/archive takes it: how a container gets its injected
// files (Nova's personality) before it first starts. Docker makes missing parent directories.

const BLOCK = 512;

/** One header block: the ustar fields at their offsets, the checksum computed over the block. */
function header(name: string, size: number, type: '0' | 'x'): Buffer {
  const block = Buffer.alloc(BLOCK);
  const put = (text: string, offset: number, length: number) => block.write(text, offset, length, 'utf8');
  const octal = (n: number, offset: number, length: number) => put(n.toString(8).padStart(length - 1, '0'), offset, length - 1);
  put(name, 0, 100);
  octal(0o644, 100, 8);
  octal(0, 108, 8); // uid: root
  octal(0, 116, 8); // gid: root
  octal(size, 124, 12);
  octal(Math.floor(Date.now() / 1000), 136, 12);
  put(' '.repeat(8), 148, 8); // the checksum counts its own field as spaces
  put(type, 156, 1);
  put('ustar\u000000', 257, 8);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8);
  return block;
}

const padded = (data: Buffer) => Buffer.concat([data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK)]);

/** A pax record "<length> path=<path>\n", its length counting its own digits. */
function paxPath(path: string): Buffer {
  const body = ` path=${path}\n`;
  let length = Buffer.byteLength(body);
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
  return Buffer.from(`${length}${body}`);
}

/** The archive of `files`; paths are relative to where it is unpacked (no leading "/"). */
export function tarArchive(files: { path: string; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const { path, data } of files) {
    if (Buffer.byteLength(path) > 100) {
      const pax = paxPath(path);
      parts.push(header('pax-header', pax.length, 'x'), padded(pax));
    }
    parts.push(header(Buffer.from(path).subarray(0, 100).toString('utf8'), data.length, '0'), padded(data));
  }
  return Buffer.concat([...parts, Buffer.alloc(2 * BLOCK)]);
}
