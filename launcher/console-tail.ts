// The last lines of a guest's console or a container's output, made safe to carry in an event:
// control characters and escape sequences removed, blank lines dropped, each line cut short.
import { open } from 'node:fs/promises';

export const CONSOLE_LINES = 10;
export const CONSOLE_LINE_CHARS = 200;

/** The last `CONSOLE_LINES` non-blank lines of `text`, cleaned. */
export function consoleTail(text: string): string[] {
  return text
    // ANSI CSI sequences (colours, cursor moves), then any other control character but a newline.
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/[\x00-\x09\x0b-\x1f\x7f]/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l)
    .slice(-CONSOLE_LINES)
    .map((l) => l.slice(0, CONSOLE_LINE_CHARS));
}

/** The tail of a console log file; none when it is missing. Reads only its last 8 KiB. */
export async function consoleTailOf(file: string): Promise<string[]> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return [];
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 8192);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    return consoleTail(buf.toString('utf8'));
  } finally {
    await handle.close();
  }
}
