// Conditions tests wait on through the API: an instance state, an event.
import type { ControllerClient } from '../../shared/controller-client.ts';
import { waitFor } from '../../shared/wait-for.ts';
import type { ClusterEvent, Instance } from '../../controller/api-types.ts';

export async function waitForState(c: ControllerClient, id: string, state: Instance['state'], timeoutMs = 10_000): Promise<Instance> {
  const tenant = await c.tenantId();
  return waitFor(`instance ${id} to be ${state}`, async () => {
    const inst = await c.call<Instance>('GET', `/tenants/${tenant}/instances/${id}`);
    return inst.state === state && inst;
  }, { timeoutMs });
}

export async function events(c: ControllerClient): Promise<ClusterEvent[]> {
  return (await c.call<{ events: ClusterEvent[] }>('GET', `/tenants/${await c.tenantId()}/events`)).events;
}

/** The events there are now: pass it to waitForEvent to wait for a newer one only. */
export async function eventMark(c: ControllerClient): Promise<Set<string>> {
  return new Set((await events(c)).map((e) => e.id));
}

export async function waitForEvent(c: ControllerClient, pattern: RegExp, opts: { after?: Set<string>; timeoutMs?: number } = {}): Promise<ClusterEvent> {
  return waitFor(`an event matching ${pattern}`, async () => (await events(c)).find((e) => !opts.after?.has(e.id) && pattern.test(e.message)), { timeoutMs: opts.timeoutMs ?? 10_000 });
}

export async function workloadId(c: ControllerClient, vmType: 'qemu' | 'docker'): Promise<string> {
  const { workloads } = await c.call<{ workloads: { id: string; vm_type: string; visibility: string }[] }>('GET', `/tenants/${await c.tenantId()}/workloads`);
  return workloads.find((w) => w.vm_type === vmType && w.visibility === 'public')!.id;
}

export async function createInstances(c: ControllerClient, workload: string, count = 1): Promise<Instance[]> {
  const r = await c.call<{ instances: Instance[] }>('POST', `/tenants/${await c.tenantId()}/instances`, { workload_id: workload, count });
  return r.instances;
}
