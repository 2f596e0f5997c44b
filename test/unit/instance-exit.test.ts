// What an instance's death carries: the reason in one sentence and the console's last lines, clean.
import t from 'tap';
import { consoleTail, consoleTailOf, CONSOLE_LINE_CHARS, CONSOLE_LINES } from '../../launcher/console-tail.ts';
import { qemuExitReason } from '../../launcher/qemu-backend.ts';
import { containerExitReason, demuxLogs } from '../../launcher/docker-backend.ts';
import { InstanceExit } from '../../protocol/payloads.ts';

t.test('the console tail keeps the last lines, without escape sequences, control characters or blank lines', async (t) => {
  const text = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\r\n') + '\n\x1b[1;31mKernel panic\x1b[0m - not syncing\x07\n\n';
  const tail = consoleTail(text);
  t.equal(tail.length, CONSOLE_LINES);
  t.equal(tail.at(-1), 'Kernel panic - not syncing');
  t.equal(tail[0], 'line 21');
  t.equal(consoleTail('x'.repeat(1000))[0].length, CONSOLE_LINE_CHARS, 'a long line is cut');
  t.ok(InstanceExit.safeParse({ reason: 'r', console: consoleTail('y\n'.repeat(50) + 'z'.repeat(500)) }).success, 'it fits the protocol');
});

t.test('the tail of a console file reads only its end; a missing file has none', async (t) => {
  const dir = t.testdir({ 'console.log': 'a'.repeat(100_000) + '\nlast words\n' });
  t.same(await consoleTailOf(`${dir}/console.log`), ['a'.repeat(CONSOLE_LINE_CHARS), 'last words']);
  t.same(await consoleTailOf(`${dir}/none.log`), []);
});

t.test("a QEMU's and a container's end say why in one sentence", async (t) => {
  t.equal(qemuExitReason(null, 'SIGKILL'), 'QEMU was killed by SIGKILL');
  t.equal(qemuExitReason(0, null), 'QEMU exited with code 0: the guest powered off or panicked');
  t.equal(qemuExitReason(1, null), 'QEMU exited with code 1');
  t.equal(containerExitReason({ ExitCode: 137, OOMKilled: true }), 'the container was killed: out of memory (exit code 137)');
  t.equal(containerExitReason({ ExitCode: 137, OOMKilled: false }), 'the container was killed by SIGKILL (exit code 137)');
  t.equal(containerExitReason({ ExitCode: 2, OOMKilled: false, Error: '' }), 'the container exited with code 2');
});

t.test("a container's log stream is demultiplexed from its 8-byte frame headers", async (t) => {
  const frame = (stream: number, text: string) => {
    const header = Buffer.alloc(8);
    header[0] = stream;
    header.writeUInt32BE(Buffer.byteLength(text), 4);
    return Buffer.concat([header, Buffer.from(text)]);
  };
  t.equal(demuxLogs(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n')])), 'out\nerr\n');
  t.equal(demuxLogs(Buffer.alloc(3)), '', 'a short buffer is nothing');
});
