// Step 4 (a real cluster's): each VM answers SSH as demouser from the tenant's CNCI namespace, and
// is the VM it should be (its hostname is its instance id).
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { onRealCluster, type VerifyStep } from './context.ts';
import { startedInstances } from './start-instances.ts';
import { sshAnswersAs } from './instance-waits.ts';

export const sshIntoVms: VerifyStep = {
  name: 'SSH into the VMs as demouser',
  when: onRealCluster,
  skipped: 'SSH into the VMs and check hostname = instance id (simulated: no guest)',
  async execute(ctx, progress) {
    const { vms } = startedInstances(ctx);
    const ns = cnciNamespace(ctx.cluster, ctx.tenantId);
    // Both at once: the VMs boot side by side.
    let answered = 0;
    await Promise.all(vms.map(async (vm) => {
      await sshAnswersAs(ctx, ns, vm.ssh_ip!, vm.id);
      progress(`${++answered}/${vms.length} answered`);
    }));
  },
};
