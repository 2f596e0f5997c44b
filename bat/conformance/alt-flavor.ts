// Tempest's flavor_ref_alt must differ from flavor_ref (resize goes from one to the other, the
// flavor filters tell servers apart by it): the runner gives the cluster a second public VM flavor
// through the admin flavor API, once, under a fixed id. It boots what the first one boots, larger.
import { adminClient, type ClusterAccess } from './cluster.ts';

export const ALT_FLAVOR_ID = 'ciao-tempest-alt';
/** Larger in every way than setup's VM workload (1 vcpu, 256 MB, 1 GB), so a resize to it grows. */
const ALT_FLAVOR = { id: ALT_FLAVOR_ID, name: 'Debian VM (Tempest alt)', vcpus: 2, ram: 512, disk: 2 };

/** Makes the alternative flavor when the cluster does not have it; says what it did. */
export async function ensureAltFlavor(cluster: ClusterAccess): Promise<string> {
  const admin = adminClient(cluster);
  const { flavors } = await admin.call<{ flavors: { id: string }[] }>('GET', '/v2.1/flavors?is_public=none');
  if (flavors.some((f) => f.id === ALT_FLAVOR_ID)) return `flavor ${ALT_FLAVOR_ID} is there`;
  await admin.call('POST', '/v2.1/flavors', { flavor: ALT_FLAVOR });
  return `flavor ${ALT_FLAVOR_ID} made (flavor_ref_alt)`;
}
