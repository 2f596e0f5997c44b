// ControllerClient against a server whose connections break before they answer: a read is asked
// once more (the controller may have been started again meanwhile: docs/lifecycle.md, "The
// controller's keeper"), a change is not, and says the controller could not be reached.
import t from 'tap';
import type { Test } from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { ControllerClient } from '../../shared/controller-client.ts';

/** Breaks the connection of the first `broken` requests, answers the others; counts them. */
async function server(t: Test, broken: number) {
  let seen = 0;
  const s = http.createServer((req, res) => {
    if (++seen <= broken) return void req.socket.destroy();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ answered: seen }));
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  t.teardown(() => void s.close());
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  const dispatcher = new Agent();
  t.teardown(() => dispatcher.close());
  const token = { token: 't', projectId: 'p', expiresAt: new Date(Date.now() + 3_600_000).toISOString() };
  const client = new ControllerClient(url, url, { username: 'u', password: 'p' }, dispatcher, { load: () => token, save: () => undefined, drop: () => undefined });
  return { client, seen: () => seen };
}

t.test('a read whose connection breaks is asked once more, and answered', async (t) => {
  const { client, seen } = await server(t, 1);
  t.same(await client.call('GET', '/x'), { answered: 2 });
  t.equal(seen(), 2);
});

t.test('a read whose connection breaks twice fails, naming the controller', async (t) => {
  const { client, seen } = await server(t, 2);
  await t.rejects(client.call('GET', '/x'), { name: 'ControllerError', code: 'unreachable', message: /^cannot reach the controller at http:\/\/127\.0\.0\.1:\d+: / });
  t.equal(seen(), 2, 'asked twice, not more');
});

t.test('a change whose connection breaks is not asked again: it may have been made', async (t) => {
  const { client, seen } = await server(t, 1);
  await t.rejects(client.call('POST', '/x', { a: 1 }), { code: 'unreachable' });
  t.equal(seen(), 1);
});
