// A restored VM's hand-over without QEMU (docs/vm-snapshots.md): the identity line reaches the
// guest's ttyS1 socket and the guest's answer ends the wait; a guest that never answers (hung after
// the restore) or whose port closes is an error with the reason, not a silent hang. One QMP
// connection carries a sequence of commands, answered in order, errors as errors.
import t from 'tap';
import net from 'node:net';
import { join } from 'node:path';
import { tempDir } from '../../shared/temp-dir.ts';
import { handOverIdentity, IDENTITY_TAKEN } from '../../launcher/vm-restore.ts';
import { QmpSession } from '../../launcher/qmp.ts';

const { path: dir, remove } = tempDir('ciao-vm-restore-unit');
t.teardown(remove);

/** A unix socket server standing in for QEMU's end of a chardev or its QMP monitor. */
async function fakeSocket(name: string, onConnection: (conn: net.Socket) => void): Promise<string> {
  const path = join(dir, name);
  const server = net.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => server.close());
  return path;
}

t.test('the identity line reaches the guest, and its answer ends the hand-over', async (t) => {
  let heard = '';
  const path = await fakeSocket('answers.sock', (conn) => conn.on('data', (d) => {
    heard += d.toString();
    // The guest answers once it has read the whole line, as guest-init.sh does.
    if (heard.endsWith('\n')) conn.write(`${IDENTITY_TAKEN}\n`);
  }));
  let sent = false;
  await handOverIdentity(path, 'ciao-identity 1.000000000 2 00ff\n', () => { sent = true; }, 5000);
  t.equal(heard, 'ciao-identity 1.000000000 2 00ff\n');
  t.ok(sent, 'the moment it was sent is reported');
});

t.test('a guest that never answers is given up on at the timeout, with the reason', async (t) => {
  let heard = '';
  const path = await fakeSocket('hung.sock', (conn) => conn.on('data', (d) => { heard += d.toString(); }));
  await t.rejects(handOverIdentity(path, 'ciao-identity 1.0 1 00\n', () => {}, 300), /did not take its identity within 0\.3 s .*hung after the restore/);
  t.equal(heard, 'ciao-identity 1.0 1 00\n', 'the line was sent: the guest did not answer it');
});

t.test('a port that closes before the answer, or is not there, is an error', async (t) => {
  const path = await fakeSocket('closes.sock', (conn) => conn.end());
  await t.rejects(handOverIdentity(path, 'ciao-identity 1.0 1 00\n', () => {}, 5000), /closed before the guest took its identity/);
  await t.rejects(handOverIdentity(join(dir, 'none.sock'), 'x\n', () => {}, 5000), /identity port: .*ENOENT/);
});

t.test('one QMP session: greeting and capabilities once, then commands answered in order, errors as errors', async (t) => {
  const received: string[] = [];
  const path = await fakeSocket('qmp.sock', (conn) => {
    conn.write('{"QMP": {"version": {}, "capabilities": []}}\n');
    let buf = '';
    conn.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const { execute } = JSON.parse(buf.slice(0, nl)) as { execute: string };
        buf = buf.slice(nl + 1);
        received.push(execute);
        // An event between answers is not an answer.
        if (execute === 'cont') conn.write('{"event": "RESUME"}\n');
        conn.write(execute === 'device_add' ? '{"error": {"class": "GenericError", "desc": "Bus \'vnic\' not found"}}\n' : `{"return": {"status": "${execute}"}}\n`);
      }
    });
  });
  const session = await QmpSession.open(path);
  t.same(await session.execute('query-status'), { status: 'query-status' });
  await t.rejects(session.execute('device_add', { id: 'nic0' }), /QMP device_add: Bus 'vnic' not found/);
  t.same(await session.execute('cont'), { status: 'cont' });
  session.close();
  t.same(received, ['qmp_capabilities', 'query-status', 'device_add', 'cont'], 'one connection carried them all');
  await t.rejects(session.execute('query-status'), /QMP query-status: .*closed/, 'a closed session says so');
});
