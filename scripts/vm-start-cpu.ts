// What a VM's start costs its QEMU in a real cluster, to the end of the guest's boot
// (docs/vm-snapshots.md, "Where the CPU goes"): VMs of the public workload, one after the other, in a
// tenant of its own; for each, its QEMU's CPU time (utime + stime of /proc/PID/stat) once the
// instance is active, once SSH answers, and once its console says the boot is over ("ready": DHCP
// done, after SSH listens). With --idle S, then its CPU over S seconds left alone (a guest's idle
// cost a second); with --commands N, then each of N commands over SSH (`uname -a`), each on a
// connection of its own and then each over the shared one (docs/bat.md, "Later BATs").
// Usage (a real cluster's demo.sh sourced):
//   npx tsx scripts/vm-start-cpu.ts [--runs N] [--idle S] [--commands N]
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { waitFor } from '../shared/wait-for.ts';
import { cpuSeconds, qemuPid as qemuPidOf } from './lib/qemu-cpu.ts';
import { cnciNamespace } from '../cnci/cnci-backend.ts';
import { sshRun } from '../singlevm/guest-ssh.ts';
import { admin, deleteInstances, publicWorkload, unique, waitState } from '../bat/lib.ts';
import type { Instance, Tenant } from '../controller/api-types.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, idle: { type: 'string', default: '0' }, commands: { type: 'string', default: '0' } } });
const cluster = process.env.CIAO_CLUSTER ?? 'ciao';
const stateDir = process.env.CIAO_STATE_DIR ?? '';
const cpu = cpuSeconds;
const qemuPid = (id: string) => qemuPidOf(cluster, id);
const consoleOf = (id: string) => execFileSync('find', [stateDir, '-path', `*${id}*`, '-name', 'console.log'], { encoding: 'utf8' }).split('\n')[0];

const tenant = await admin.call<Tenant>('POST', '/tenants', { name: unique('startcpu') });
const path = `/tenants/${tenant.id}`;
const rows: number[][] = [];
try {
  const w = await publicWorkload('qemu');
  for (let i = 0; i < Number(values.runs); i++) {
    const [vm] = (await admin.call<{ instances: Instance[] }>('POST', `${path}/instances`, { workload_id: w.id })).instances;
    const { ip } = await waitState(path, vm.id, 'active');
    const pid = await qemuPid(vm.id);
    const active = await cpu(pid);
    await waitFor(`SSH to ${ip}`, () => sshRun(cnciNamespace(cluster, tenant.id), ip, process.env.CIAO_SSH_KEY ?? '', 'true').then(() => true, () => false), { timeoutMs: 120_000, intervalMs: 100 });
    const ssh = await cpu(pid);
    const log = consoleOf(vm.id);
    // The console holds the template's boot too: the restored boot's own "ready" comes after its "identity taken".
    await waitFor('the boot to end', async () => /identity taken[\s\S]*ciao-vm: ready/.test(await readFile(log, 'utf8')), { timeoutMs: 60_000, intervalMs: 20 });
    const ready = await cpu(pid);
    rows.push([active, ssh, ready]);
    console.log(`VM ${i + 1}: QEMU ${active.toFixed(2)} CPU-s when active, ${ssh.toFixed(2)} when SSH answers, ${ready.toFixed(2)} when its boot ended (DHCP done)`);
    const idleS = Number(values.idle);
    if (idleS > 0) {
      const before = await cpu(pid);
      await sleep(idleS * 1000); // the measurement's span, not a wait for a condition
      console.log(`  idle: ${((await cpu(pid) - before) / idleS).toFixed(4)} CPU-s a second over ${idleS} s`);
    }
    const n = Number(values.commands);
    for (const shared of n > 0 ? ['0', '1'] : []) {
      process.env.CIAO_SSH_SHARED = shared;
      const before = await cpu(pid);
      for (let c = 0; c < n; c++) await sshRun(cnciNamespace(cluster, tenant.id), ip, process.env.CIAO_SSH_KEY ?? '', 'uname -a');
      console.log(`  ${n} commands, ${shared === '1' ? 'over the shared connection' : 'a connection each'}: ${((await cpu(pid) - before) / n).toFixed(3)} CPU-s a command`);
    }
    delete process.env.CIAO_SSH_SHARED;
    await deleteInstances(path);
  }
} finally {
  await deleteInstances(path);
  await admin.call('DELETE', path);
}
const median = (k: number) => rows.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
console.log(`median: active ${median(0).toFixed(2)}, SSH answers ${median(1).toFixed(2)}, boot ended ${median(2).toFixed(2)} CPU-s`);
