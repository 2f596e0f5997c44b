// Console output over simulated nodes (docs/protocol.md "Console output"): the ciao API and Nova's
// os-getConsoleOutput read the instance's node; a stopped one's console is still there; bad lengths
// are 400; an instance no node holds is 409; a node that never answers is a 504 with Retry-After.
import t from 'tap';
import { request } from 'undici';
import { startControlPlane } from '../helpers/control-plane.ts';
import { createInstances, waitForState, workloadId } from '../helpers/api-waits.ts';
import { failure } from '../helpers/call-status.ts';
import { issueToken } from '../../mocks/identity/client.ts';
import { CONSOLE_TIMEOUT_MS } from '../../controller/console-requests.ts';
import type { Frame } from '../../protocol/payloads.ts';

const plane = await startControlPlane({ nodes: 2, statsIntervalMs: 200 });
t.teardown(() => plane.close());
const { demo, other } = plane;
const tenant = await demo.tenantId();
const nova = (id: string, body: unknown) => demo.call<{ output: string }>('POST', `/v2.1/servers/${id}/action`, { 'os-getConsoleOutput': body });
const ciao = (id: string, query = '') => demo.call<{ output: string; truncated: boolean }>('GET', `/tenants/${tenant}/instances/${id}/console${query}`);

const [vm] = await createInstances(demo, await workloadId(demo, 'qemu'));
await waitForState(demo, vm.id, 'active');

t.test('a running instance\'s console is read from its node: the simulation\'s record, line by line', async (t) => {
  const { output, truncated } = await ciao(vm.id, '?lines=all');
  const lines = output.split('\n');
  t.ok(lines.length >= 4, `several lines: ${lines.length}`);
  t.ok(lines.every((l) => l.includes(`simulated instance ${vm.id}`)), 'each line says it is simulated, and whose');
  t.match(output, /booted: image \S+, 1 vcpus, 256 MB/);
  t.equal(truncated, false);
  t.equal((await ciao(vm.id, '?lines=2')).output.split('\n').length, 2, 'lines=2: two lines');
  t.equal((await ciao(vm.id)).output, output, 'the default (50) holds all of a short console');
});

t.test('Nova: length N gives N lines (as Tempest counts them), -1, null or none the whole console', async (t) => {
  const all = (await ciao(vm.id, '?lines=all')).output;
  t.equal((await nova(vm.id, { length: 3 })).output.split('\n').length, 3);
  t.equal((await nova(vm.id, { length: '3' })).output, (await nova(vm.id, { length: 3 })).output, 'a string of digits is a length too');
  t.equal((await nova(vm.id, { length: 0 })).output, '', 'length 0: nothing');
  for (const body of [{}, { length: null }, { length: -1 }, { length: '-1' }, { length: 10 ** 9 }]) {
    t.equal((await nova(vm.id, body)).output, all, `${JSON.stringify(body)}: all of it`);
  }
});

t.test('bad lengths and bodies are 400; another tenant\'s server is 404', async (t) => {
  for (const body of [{ length: -2 }, { length: 1.5 }, { length: 'x' }, { length: '' }, { length: true }, { length: [3] }, { lenght: 3 }, null, 'all']) {
    t.equal(await failure(nova(vm.id, body)), 400, JSON.stringify(body));
  }
  for (const q of ['?lines=-1', '?lines=x', '?lines=70000', '?lines=1e3']) t.equal(await failure(ciao(vm.id, q)), 400, q);
  t.equal(await failure(other.call('POST', `/v2.1/servers/${vm.id}/action`, { 'os-getConsoleOutput': {} })), 404);
});

t.test('a stopped instance\'s console is still on its node, ending with its stop', async (t) => {
  const [c] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, c.id, 'active');
  await demo.call('POST', `/tenants/${tenant}/instances/${c.id}/action`, { action: 'stop' });
  await waitForState(demo, c.id, 'exited');
  const { output } = await nova(c.id, { length: 1 });
  t.match(output, new RegExp(`simulated instance ${c.id}: stopped$`));
});

t.test('an instance no node holds (its node disconnected: missing) is 409, at once', async (t) => {
  const [c] = await createInstances(demo, await workloadId(demo, 'docker'));
  const active = await waitForState(demo, c.id, 'active');
  const i = Number(active.node_id!.replace('node-', ''));
  plane.launchers[i].stop();
  await waitForState(demo, c.id, 'missing', 20_000);
  const t0 = performance.now();
  t.equal(await failure(nova(c.id, {})), 409);
  t.equal(await failure(ciao(c.id)), 409);
  t.ok(performance.now() - t0 < 2000, 'answered without waiting for the node');
  await plane.restartLauncher(i);
  await waitForState(demo, c.id, 'active');
});

t.test('a node that never answers: 504 with Retry-After after the timeout; once it answers again, so does the API', async (t) => {
  const active = await waitForState(demo, vm.id, 'active');
  const launcher = plane.launchers[Number(active.node_id!.replace('node-', ''))] as unknown as { handle(f: Frame): Promise<void> };
  // The node takes CONSOLE commands and drops them (a hung backend, a node too busy to answer).
  const handle = launcher.handle.bind(launcher);
  launcher.handle = async (f) => (f.op === 'CONSOLE' ? undefined : handle(f));
  t.teardown(() => { launcher.handle = handle; });
  const { token } = await issueToken(plane.identityUrl, { username: 'demo', password: 'demo-pw', projectName: 'demo' }, plane.dispatcher);
  const t0 = performance.now();
  const res = await request(`${plane.controllerUrl}/v2.1/servers/${vm.id}/action`, {
    method: 'POST', dispatcher: plane.dispatcher, headers: { 'x-auth-token': token, 'content-type': 'application/json' },
    body: JSON.stringify({ 'os-getConsoleOutput': { length: 5 } }),
  });
  const ms = performance.now() - t0;
  const body = await res.body.text();
  t.equal(res.statusCode, 504, body);
  t.ok(Number(res.headers['retry-after']) > 0, `Retry-After: ${res.headers['retry-after']}`);
  t.ok(ms >= CONSOLE_TIMEOUT_MS - 100 && ms < CONSOLE_TIMEOUT_MS + 2000, `answered after the ${CONSOLE_TIMEOUT_MS} ms timeout: ${Math.round(ms)} ms`);
  t.match(body, /did not send the console/);
  // The node answers again: the next request is served, the instance untouched.
  launcher.handle = handle;
  t.equal((await nova(vm.id, { length: 2 })).output.split('\n').length, 2);
  t.equal((await waitForState(demo, vm.id, 'active')).state, 'active');
});
