// What a cluster holds, by kind and id, as the admin sees it: instances, workloads, tenants,
// volumes, images and pools. Compared before and after, it names what a test run left behind
// (BAT's leak check, the conformance run's leftovers).
import type { ControllerClient } from '../shared/controller-client.ts';

/** Entries like `instance <id>`, `pool <name>`. */
export async function clusterInventory(admin: Pick<ControllerClient, 'call'>): Promise<Set<string>> {
  const have = new Set<string>();
  const { tenants } = await admin.call<{ tenants: { id: string }[] }>('GET', '/tenants');
  for (const t of tenants) {
    have.add(`tenant ${t.id}`);
    for (const i of (await admin.call<{ instances: { id: string }[] }>('GET', `/tenants/${t.id}/instances`)).instances) have.add(`instance ${i.id}`);
    for (const w of (await admin.call<{ workloads: { id: string }[] }>('GET', `/tenants/${t.id}/workloads`)).workloads) have.add(`workload ${w.id}`);
    for (const v of (await admin.call<{ volumes: { id: string }[] }>('GET', `/tenants/${t.id}/volumes`)).volumes) have.add(`volume ${v.id}`);
  }
  for (const i of (await admin.call<{ images: { id: string }[] }>('GET', '/image/v2/images')).images) have.add(`image ${i.id}`);
  for (const p of (await admin.call<{ pools: { name: string }[] }>('GET', '/pools')).pools) have.add(`pool ${p.name}`);
  return have;
}

/** What `after` has that `before` had not, counted by kind ("3 instances, 1 image"), leaving out
 *  the kinds in `ignore`. */
export function leftSince(before: Set<string>, after: Set<string>, ignore: string[] = []): string {
  const counts = new Map<string, number>();
  for (const x of after) {
    const kind = x.split(' ')[0];
    if (!before.has(x) && !ignore.includes(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return [...counts].map(([kind, n]) => `${n} ${kind}${n === 1 ? '' : 's'}`).join(', ');
}
