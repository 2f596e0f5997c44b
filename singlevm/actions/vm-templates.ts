// The VM snapshot templates (docs/vm-snapshots.md) made by setup, while better-sqlite3 compiles
// (docs/cold-start.md): on a fresh machine the control plane waits for that compile anyway, so the
// templates of the default VM workloads' shapes are made in that time, and verify's first VMs
// restore from them instead of cold-booting beside the template's own boot. Otherwise (no compile
// going) the node makes them in the background when it starts, as before. A template that cannot
// be made fails nothing: the node tries again, and its VMs cold-boot meanwhile.
import { need, type Action } from './context.ts';
import { vmSnapshotsDir, vmSnapshotShapes } from './node.ts';

export const vmTemplates: Action = {
  name: 'VM snapshot templates',
  when: (ctx) => !ctx.settings.simulate && !!ctx.settings.nativeCompileGoing && process.env.CIAO_VM_SNAPSHOTS !== '0',
  async execute(ctx) {
    const vm = need(ctx.real?.vmImage, 'the VM image', 'VM image');
    const accel = need(ctx.real?.accel, 'how VMs run', 'KVM or TCG');
    const shapes = vmSnapshotShapes();
    // The node's state folder: the cluster's stop and cleanup find a template's QEMU there by path.
    const failures = await ctx.host.makeVmTemplates({ dir: vmSnapshotsDir(ctx.cacheDir), runDir: ctx.paths.nodeDir(0), kernel: vm.kernel, initrd: vm.initrd, accel, shapes });
    if (failures.length) return `not made (the node tries again as it starts; its first VMs cold-boot): ${failures.join('; ')}`;
    return `${shapes.length} made while better-sqlite3 compiles: the first VMs restore from ${shapes.length > 1 ? 'them' : 'it'}`;
  },
};
