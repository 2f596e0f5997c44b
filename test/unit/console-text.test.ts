// The text a CONSOLE answer carries (launcher/console.ts): the last lines, control characters and
// escape sequences out, at most 64 KiB of whole lines, and whether anything asked for was left out.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { consoleOfFile, consoleText } from '../../launcher/console.ts';
import { CONSOLE_MAX_BYTES } from '../../protocol/payloads.ts';
import { tempDir } from '../../shared/temp-dir.ts';

t.test('the last N lines, no newline after the last; null is all', async (t) => {
  const raw = 'one\ntwo\nthree\nfour\n';
  t.same(consoleText(raw, 2), { text: 'three\nfour', truncated: false });
  t.same(consoleText(raw, null), { text: 'one\ntwo\nthree\nfour', truncated: false });
  t.same(consoleText(raw, 10), { text: 'one\ntwo\nthree\nfour', truncated: false });
  t.same(consoleText(raw, 0), { text: '', truncated: false });
  t.same(consoleText('a\npartial', 1), { text: 'partial', truncated: false }, 'a line being written counts');
});

t.test('control characters and escape sequences go; newlines and tabs stay', async (t) => {
  const raw = '\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS\r\nLinux\tversion\x07\x00\x7f\r\n\x1b(Bok';
  t.equal(consoleText(raw, null).text, 'SeaBIOS\nLinux\tversion\nok');
});

t.test('a cut console drops its first (partial) line and says what is missing', async (t) => {
  t.same(consoleText('tial\nb\nc', 2, true), { text: 'b\nc', truncated: false }, 'two asked, two there');
  t.same(consoleText('tial\nb\nc', 5, true), { text: 'b\nc', truncated: true }, 'five asked: the rest is before the cut');
  t.same(consoleText('tial\nb\nc', null, true), { text: 'b\nc', truncated: true });
});

t.test('at most 64 KiB of whole lines', async (t) => {
  const line = 'x'.repeat(99);
  const raw = Array.from({ length: 1000 }, (_, i) => `${i} ${line}`).join('\n');
  const { text, truncated } = consoleText(raw, null);
  t.ok(Buffer.byteLength(text) <= CONSOLE_MAX_BYTES, `${Buffer.byteLength(text)} bytes`);
  t.ok(Buffer.byteLength(text) > CONSOLE_MAX_BYTES - 200, 'as much as fits');
  t.ok(truncated);
  t.match(text, /^\d+ x+\n/, 'starts with a whole line');
  t.match(text, /\n999 x+$/, 'ends with the last');
});

t.test('a file: only its end is read; a missing one is an empty console', async (t) => {
  const { path: dir, remove } = tempDir('ciao-console-test');
  t.teardown(remove);
  const file = join(dir, 'console.log');
  await writeFile(file, `${'y'.repeat(CONSOLE_MAX_BYTES)}\nlast but one\nlast\n`);
  t.same(await consoleOfFile(file, 2), { text: 'last but one\nlast', truncated: false });
  t.same(await consoleOfFile(file, null), { text: 'last but one\nlast', truncated: true }, 'the long first line is cut, so left out');
  t.same(await consoleOfFile(join(dir, 'none.log'), 5), { text: '', truncated: false });
});
