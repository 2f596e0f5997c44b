// What tempest.conf needs to know about the cluster, read through its APIs as the admin: the VM
// flavors and their images, the compute and volume microversions the cluster advertises, its nodes.
import type { Image, Workload } from '../../controller/api-types.ts';
import { adminClient, ALT_IMAGE, type ClusterAccess } from './cluster.ts';
import { ALT_FLAVOR_ID } from './alt-flavor.ts';

export interface CloudFacts {
  flavorRef: string;
  flavorRefAlt: string;
  imageRef: string;
  imageRefAlt: string;
  /** Undefined when the cluster advertises no microversions (Tempest then sends none). */
  compute: { minMicroversion?: string; maxMicroversion?: string };
  volume: { minMicroversion?: string; maxMicroversion?: string };
  computeNodes: number;
}

export interface CloudAnswers {
  workloads: Pick<Workload, 'id' | 'vm_type' | 'visibility' | 'image_name'>[];
  images: Pick<Image, 'id' | 'name'>[];
  /** GET /v2.1's `version`. */
  computeVersion: { version?: string; min_version?: string };
  /** GET /volume/v3's version (its `versions`' one entry). */
  volumeVersion: { version?: string; min_version?: string };
  /** Nodes that are not missing (a FULL one still counts as a host). */
  computeNodes: number;
}

/** The facts in the API's answers: flavor_ref is the first public VM workload (a server is built
 *  from a workload's own image, so image_ref is its image); the _alt ones the runner's alternative
 *  flavor (alt-flavor.ts), else the second, if any;
 *  image_ref_alt the runner's second image when both flavors boot the same one. */
export function factsFrom(a: CloudAnswers): CloudFacts {
  const vms = a.workloads.filter((w) => w.visibility === 'public' && w.vm_type === 'qemu');
  if (!vms.length) throw new Error('the cluster has no public VM (qemu) workload to be Tempest\'s flavor_ref: setup makes one; was it deleted?');
  const imageOf = (w: (typeof vms)[number]) => {
    const image = a.images.find((i) => i.id === w.image_name) ?? a.images.find((i) => i.name === w.image_name);
    if (!image) throw new Error(`workload ${w.id} boots image ${w.image_name}, which the image API does not list`);
    return image.id;
  };
  const altFlavor = vms.find((w) => w.id === ALT_FLAVOR_ID);
  const [first = vms[0], other] = vms.filter((w) => w !== altFlavor);
  const second = altFlavor ?? other ?? first;
  const imageRef = imageOf(first);
  // The second flavor's image when it is another, else the runner's second image (cluster.ts).
  const alt = imageOf(second) !== imageRef ? imageOf(second) : a.images.find((i) => i.name === ALT_IMAGE)?.id ?? imageRef;
  return {
    flavorRef: first.id,
    flavorRefAlt: second.id,
    imageRef,
    imageRefAlt: alt,
    compute: { minMicroversion: a.computeVersion.min_version || undefined, maxMicroversion: a.computeVersion.version || undefined },
    volume: { minMicroversion: a.volumeVersion.min_version || undefined, maxMicroversion: a.volumeVersion.version || undefined },
    computeNodes: a.computeNodes,
  };
}

export async function readCloudFacts(cluster: ClusterAccess): Promise<CloudFacts> {
  const admin = adminClient(cluster);
  const tenant = await admin.tenantId();
  const [{ workloads }, { images }, { version }, { versions: [volumeVersion] }, status] = await Promise.all([
    admin.call<{ workloads: Workload[] }>('GET', `/tenants/${tenant}/workloads`),
    admin.call<{ images: Image[] }>('GET', '/image/v2/images'),
    admin.call<{ version: CloudAnswers['computeVersion'] }>('GET', '/v2.1'),
    admin.call<{ versions: CloudAnswers['volumeVersion'][] }>('GET', '/volume/v3'),
    admin.call<{ nodes: { total: number; missing: number } }>('GET', '/cluster/status'),
  ]);
  return factsFrom({ workloads, images, computeVersion: version, volumeVersion: volumeVersion ?? {}, computeNodes: status.nodes.total - status.nodes.missing });
}
