// The workloads every cluster starts with (SPEC §5): a VM on the small image with a `demouser`
// who logs in with the cluster's SSH key, a container, and the internal CNCI workload.

/** The VM image's name in the image service. */
export const VM_IMAGE = 'ciao-vm';
/** The VM image's root filesystem as a disk (qcow2), what root volumes are made from. */
export const VM_ROOT_IMAGE = 'ciao-vm-root';
/** The container image's name on the simulated cluster (the real one names its `docker import` tag). */
export const SIM_CONTAINER_IMAGE = 'busybox';

export interface WorkloadImages {
  containerImage: string;
  /** demouser's key (CIAO_SSH_KEY's public half); a simulated cluster has none. */
  sshPublicKey?: string;
}

export function defaultWorkloads({ containerImage, sshPublicKey }: WorkloadImages) {
  const keys = sshPublicKey ? `    ssh_authorized_keys:\n      - ${sshPublicKey}\n` : '';
  return [
    {
      description: 'Debian VM',
      vm_type: 'qemu',
      image_name: VM_IMAGE,
      fw_type: 'legacy',
      visibility: 'public',
      defaults: { vcpus: 1, mem_mb: 256, disk_mb: 1024 },
      config: `#cloud-config\nusers:\n  - name: demouser\n${keys}`,
    },
    {
      description: 'Busybox container',
      vm_type: 'docker',
      image_name: containerImage,
      visibility: 'public',
      defaults: { vcpus: 1, mem_mb: 64, disk_mb: 0 },
    },
    {
      description: 'CNCI',
      vm_type: 'qemu',
      image_name: VM_IMAGE,
      visibility: 'internal',
      defaults: { vcpus: 1, mem_mb: 128, disk_mb: 0 },
      requirements: { network_node: true },
    },
  ];
}

export const DEFAULT_WORKLOADS = defaultWorkloads({ containerImage: SIM_CONTAINER_IMAGE });
