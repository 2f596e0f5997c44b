// The verify flow as a list of steps (docs/lifecycle.md; SPEC §6), and runVerify for a program that
// checks a cluster without spawning verify.sh (ccloudvm, tests):
//   const ctx = await logIn(await verifyTarget(name, await readDemoSh(clusterPaths(name).demoSh)));
//   await runVerify(ctx);   // throws the first failure; ctx.notChecked says what was skipped
import { runFlow, type Needs } from '../flow.ts';
import { StepRunner } from '../step-runner.ts';
import type { VerifyContext, VerifyStep } from './context.ts';
import { listWorkloads } from './list-workloads.ts';
import { startVmsAndContainers } from './start-instances.ts';
import { instancesActive } from './instances-active.ts';
import { sshIntoVms } from './ssh-into-vms.ts';
import { containerPingsContainer } from './container-pings-container.ts';
import { crossNode } from './cross-node.ts';
import { startOtherTenant, tenantIsolation } from './tenant-isolation.ts';
import { externalIp } from './external-ip.ts';
import { egressToHost } from './egress.ts';
import { natFailureReported } from './nat-failure.ts';
import { deleteInstances } from './delete-instances.ts';
import { nothingLeft } from './nothing-left.ts';

export const VERIFY_FLOW: VerifyStep[] = [
  listWorkloads, startVmsAndContainers, startOtherTenant, instancesActive,
  sshIntoVms, containerPingsContainer, crossNode, tenantIsolation, egressToHost,
  externalIp, natFailureReported, deleteInstances, nothingLeft,
];

/** What each step needs done first (singlevm/flow.ts): the probes of what step 2 started run at
 *  the same time; the steps that change the tenant's CNCI (external IPs, its NAT fault) one after
 *  another; the deletes after every probe. */
export const VERIFY_NEEDS: Needs<VerifyContext> = new Map<VerifyStep, VerifyStep[]>([
  [startVmsAndContainers, [listWorkloads]],
  [startOtherTenant, [listWorkloads]],
  [instancesActive, [startVmsAndContainers]],
  [sshIntoVms, [instancesActive]],
  [containerPingsContainer, [instancesActive]],
  [crossNode, [instancesActive]],
  // The VMs answer before they are probed from the other tenant (a VM not up yet is silent to anyone).
  [tenantIsolation, [startOtherTenant, sshIntoVms, containerPingsContainer]],
  [egressToHost, [sshIntoVms]],
  // The cross-node step makes and deletes the same address pool as the external-IP one: one at a time.
  [externalIp, [sshIntoVms, crossNode]],
  [natFailureReported, [externalIp, egressToHost]],
  [deleteInstances, [containerPingsContainer, crossNode, tenantIsolation, natFailureReported]],
  [nothingLeft, [deleteInstances]],
]);

/** Runs verify on the cluster `ctx` describes: a status line per step, the first failure thrown
 *  (its step marked failed in `steps`); what this cluster cannot check goes to ctx.notChecked. */
export async function runVerify(ctx: VerifyContext, steps = new StepRunner('verify')): Promise<StepRunner> {
  await runFlow(steps, VERIFY_FLOW, ctx, ctx.notChecked, VERIFY_NEEDS);
  return steps;
}
