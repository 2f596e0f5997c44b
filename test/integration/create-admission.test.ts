import t from 'tap';
import { request } from 'undici';
import { startControlPlane } from '../helpers/control-plane.ts';
import { createInstances, workloadId } from '../helpers/api-waits.ts';
import { waitFor } from '../../shared/wait-for.ts';

// The tenant's CNCI and then each instance take 5 s to "boot": its instances stay pending for at
// least 10 s after the first create, far longer than the test takes.
const plane = await startControlPlane({ nodes: 1, bootDelayMs: 5000, admission: { maxPendingStarts: 3 } });
t.teardown(async () => {
  // Closed once the CNCI's agent is up, so that it is stopped with the rest.
  await waitFor('the CNCI to boot', () => plane.nats.size > 0, { timeoutMs: 30_000 });
  await plane.close();
});
const { demo } = plane;
const tenant = await demo.tenantId();
const workload = await workloadId(demo, 'docker');

const post = async (path: string, body: object) => {
  const res = await request(`${plane.controllerUrl}${path}`, {
    method: 'POST', dispatcher: plane.dispatcher, body: JSON.stringify(body),
    headers: { 'x-auth-token': await demo.authToken(), 'content-type': 'application/json' },
  });
  return { status: res.statusCode, retryAfter: res.headers['retry-after'], body: await res.body.json() as { error?: { code: string; message: string } } };
};

t.test('a create beyond the queue of pending starts is 503 with Retry-After, and admitted again once the queue is shorter', async (t) => {
  const first = await createInstances(demo, workload, 3);
  t.equal(first.length, 3, 'a create into an empty queue is admitted');
  const refused = await post(`/tenants/${tenant}/instances`, { workload_id: workload, count: 1 });
  t.equal(refused.status, 503);
  t.equal(refused.retryAfter, '1', 'the client is told when to come back');
  t.match(refused.body.error, { code: 'unavailable', message: /busy: 3 instances are waiting to start \(at most 3, this create adds 1\)/ });
  const compute = await post('/v2.1/servers', { server: { name: 'x', flavorRef: workload, imageRef: 'ignored' } });
  t.equal(compute.status, 503, 'the compute API sheds the same way');
  t.equal(compute.retryAfter, '1');
  const listed = await demo.call<{ instances: unknown[] }>('GET', `/tenants/${tenant}/instances`);
  t.equal(listed.instances.length, 3, 'a refused create left nothing behind, and reads are still answered');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${first[0].id}`);
  const [again] = await createInstances(demo, workload, 1);
  t.ok(again.id, 'admitted once a pending start is gone');
});
