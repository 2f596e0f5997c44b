// A console as the COMMAND CONSOLE answer carries it (docs/protocol.md "Console output"): the last
// lines of a guest's serial log or a container's output, control characters removed, at most
// CONSOLE_MAX_BYTES. Backends hand over raw text (or the file it is in); this shapes it.
import { open } from 'node:fs/promises';
import { CONSOLE_MAX_BYTES } from '../protocol/payloads.ts';

export interface ConsoleText {
  text: string;
  /** Lines that were asked for are left out to keep within CONSOLE_MAX_BYTES. */
  truncated: boolean;
}

/** ANSI CSI sequences (colours, cursor moves, SeaBIOS's screen clears), then every control
 *  character but a newline and a tab (a CR of a serial console's CRLF too), as Nova filters. */
export const cleanConsole = (raw: string): string =>
  raw.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/\x1b[()][0-9A-Za-z]|\x1b[^[]?/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');

/**
 * The last `lines` lines of `raw` (null: all), cleaned, joined by newlines with none after the last
 * (so the text of 3 lines splits into 3, as Tempest counts them). `cutBefore`: the raw text is the
 * end of a longer console, so its first line may be partial and is dropped, and anything wanted
 * before it counts as truncated.
 */
export function consoleText(raw: string, lines: number | null, cutBefore = false): ConsoleText {
  const all = cleanConsole(raw).split('\n');
  if (all.at(-1) === '') all.pop();
  if (cutBefore) all.shift();
  let kept = lines === null ? all : all.slice(Math.max(0, all.length - lines));
  let truncated = cutBefore && (lines === null || kept.length < lines);
  // Within the byte limit, whole lines only (a line of a broken UTF-8 sequence may have grown).
  while (kept.length && Buffer.byteLength(kept.join('\n')) > CONSOLE_MAX_BYTES) {
    kept = kept.slice(1);
    truncated = true;
  }
  return { text: kept.join('\n'), truncated };
}

/** The console in a log file (a VM's serial log): only its last CONSOLE_MAX_BYTES are read.
 *  A missing file is an empty console (a VM whose QEMU never wrote). */
export async function consoleOfFile(file: string, lines: number | null): Promise<ConsoleText> {
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!handle) return { text: '', truncated: false };
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, CONSOLE_MAX_BYTES);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    return consoleText(buf.toString('utf8'), lines, size > length);
  } finally {
    await handle.close();
  }
}
