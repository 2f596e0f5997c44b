// What a node counts for an instance in the middle of a resize: the larger of its new resources
// and the old ones it holds until the confirm or revert (docs/protocol.md "Resize").
import type { Resources } from '../protocol/payloads.ts';

/** Each of vcpus, memory and disk at the larger of the two. */
export function claimed(resources: Resources, hold?: Resources | null): Resources {
  if (!hold) return resources;
  return { vcpus: Math.max(resources.vcpus, hold.vcpus), memMB: Math.max(resources.memMB, hold.memMB), diskMB: Math.max(resources.diskMB, hold.diskMB) };
}

export const sameResources = (a: Resources, b: Resources) => a.vcpus === b.vcpus && a.memMB === b.memMB && a.diskMB === b.diskMB;

/** What `after` needs beyond `before`, per resource (0 where it needs less). */
export function growth(before: Resources, after: Resources): Resources {
  return { vcpus: Math.max(0, after.vcpus - before.vcpus), memMB: Math.max(0, after.memMB - before.memMB), diskMB: Math.max(0, after.diskMB - before.diskMB) };
}
