// The one Block Storage backend (qcow2 files in the cluster's volume store) as Cinder's scheduler
// sees it: the capabilities it reports, and the CapabilitiesFilter that matches a volume type's
// extra specs against them. A type asking for what the backend does not have makes volumes that
// go to `error` with a user message (no valid backend), as in Cinder.
import type { Datastore } from './datastore/datastore.ts';

/** The backend as Cinder names it (host@backend) and its one pool (host@backend#pool). */
export const BACKEND = 'controller@qcow2';
export const POOL = `${BACKEND}#volumes`;

/** Cinder's services as the cluster has them: the controller schedules volumes and holds the backend. */
export const VOLUME_SERVICES = [
  { binary: 'cinder-scheduler', host: 'controller' },
  { binary: 'cinder-volume', host: BACKEND },
] as const;

/** Why no new volume can be placed: the volume service was disabled by an admin (undefined: it is enabled). */
export function backendDisabled(store: Datastore): string | undefined {
  const state = store.volumeServices.get(`cinder-volume@${BACKEND}`);
  return state?.disabled ? `the cinder-volume service on ${BACKEND} is disabled${state.disabled_reason ? ` (${state.disabled_reason})` : ''}` : undefined;
}

/** What the backend reports (Cinder's get_volume_stats), under the keys extra specs name. */
export const BACKEND_CAPABILITIES: Readonly<Record<string, string | boolean>> = {
  volume_backend_name: 'qcow2', vendor_name: 'ciao', storage_protocol: 'file', driver_version: '1.0',
  thin_provisioning_support: true, thick_provisioning_support: false, multiattach: false,
};

/** Whether one capability satisfies what a spec asks: a plain value is compared as text, "<is> True"
 *  as a boolean, "<in> x" as a substring (Cinder's extra_specs_ops, the operators a type may use here). */
function satisfies(cap: string | boolean, asked: string): boolean {
  const [op, ...rest] = asked.trim().split(/\s+/);
  const value = rest.join(' ');
  if (op === '<is>') return String(cap).toLowerCase() === value.toLowerCase();
  if (op === '<in>') return String(cap).includes(value);
  return String(cap) === asked;
}

/** The first extra spec the backend cannot satisfy, or undefined. Keys scoped to something other
 *  than `capabilities:` (a vendor's, e.g. `qos:`) are not for the scheduler and pass. */
export function unmetSpec(specs: Record<string, string>): string | undefined {
  return Object.entries(specs).find(([key, asked]) => {
    const scope = key.split(':');
    if (scope.length > 1 && scope[0] !== 'capabilities') return false;
    const name = scope.length > 1 ? scope.slice(1).join(':') : key;
    const cap = Object.hasOwn(BACKEND_CAPABILITIES, name) ? BACKEND_CAPABILITIES[name] : undefined;
    return cap === undefined || !satisfies(cap, asked);
  })?.[0];
}
