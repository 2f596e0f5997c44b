// The workloads every cluster starts with (SPEC §5): a VM on the small image, a container, and
// the internal CNCI workload.

export const SIM_VM_IMAGE = 'ciao-vm';

export const DEFAULT_WORKLOADS = [
  {
    description: 'Debian VM',
    vm_type: 'qemu',
    image_name: SIM_VM_IMAGE,
    fw_type: 'legacy',
    visibility: 'public',
    defaults: { vcpus: 1, mem_mb: 256, disk_mb: 1024 },
    config: '#cloud-config\nusers:\n  - name: demouser\n',
  },
  {
    description: 'Busybox container',
    vm_type: 'docker',
    image_name: 'busybox',
    visibility: 'public',
    defaults: { vcpus: 1, mem_mb: 64, disk_mb: 0 },
  },
  {
    description: 'CNCI',
    vm_type: 'qemu',
    image_name: SIM_VM_IMAGE,
    visibility: 'internal',
    defaults: { vcpus: 1, mem_mb: 128, disk_mb: 0 },
    requirements: { network_node: true },
  },
];
