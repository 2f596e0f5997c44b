// For root tests of the qemu backend: a throwaway node namespace with one tenant bridge (t9,
// 172.16.9.1/24) and dnsmasq on it giving the VM at 172.16.9.2 its address by MAC, as a tenant's
// CNCI would (with `count`, also .3, .4 …: `vms`). close() stops dnsmasq and removes the namespace.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createNamespace, deleteNamespace } from '../../network/namespaces.ts';
import { addAddress, addBridge } from '../../network/links.ts';
import { macFor } from '../../controller/addresses.ts';

export async function vmSegment(dir: string, count = 1) {
  const nodeNs = `ciaotest-${randomBytes(2).toString('hex')}-node`;
  await createNamespace(nodeNs);
  await addBridge(nodeNs, 't9');
  await addAddress(nodeNs, 't9', '172.16.9.1/24');
  const ip = '172.16.9.2';
  const mac = macFor(ip);
  const vms = Array.from({ length: count }, (_, n) => `172.16.9.${n + 2}`).map((vmIp) => ({ ip: vmIp, mac: macFor(vmIp) }));
  const dnsmasq = spawn('ip', ['netns', 'exec', nodeNs, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0',
    '--interface=t9', '--bind-interfaces', '--dhcp-range=172.16.9.0,static,255.255.255.0', ...vms.map((vm) => `--dhcp-host=${vm.mac},${vm.ip}`),
    '--dhcp-option=3,172.16.9.1', `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`], { stdio: 'ignore' });
  return {
    nodeNs, ip, mac, vms,
    network: { ip, mac, subnet: '172.16.9.0/24', gateway: '172.16.9.1' },
    async close() {
      dnsmasq.kill();
      await deleteNamespace(nodeNs);
    },
  };
}
