// A real cluster set up with --egress (docs/egress.md): a VM and a container of the tenant fetch a
// page from a server verify starts on an opened port of the host's loopback (host.ciao.internal),
// and reach nothing on a port that was not opened. Every packet stays on this machine: the only
// destination outside the cluster's namespaces is the host's loopback, through slirp4netns.
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { HOST_NAME } from '../../network/egress.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { httpGetFromContainer, httpGetFromVm } from '../probes.ts';
import { portIsFree, freePort } from '../ports.ts';
import { onRealCluster, type VerifyContext, type VerifyStep } from './context.ts';
import { startedInstances } from './start-instances.ts';

const egressOf = (ctx: VerifyContext) => ctx.record?.settings?.egress;
const PATH = 'ciao-egress-check';

/** A server on the host's loopback answering every request with `token`. */
export async function tokenServer(port: number, token: string): Promise<Server> {
  const server = createServer((_req, res) => res.end(token));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return server;
}

export const egressToHost: VerifyStep = {
  name: 'egress: workloads reach an opened host port, and no other',
  when: (ctx) => onRealCluster(ctx) && !!egressOf(ctx)?.allowHostPorts.length,
  skipped: 'egress (set up without --egress, or without --egress-allow-host PORT to fetch from)',
  async execute(ctx, progress) {
    const [open] = egressOf(ctx)!.allowHostPorts;
    const { vms: [vm], containers: [ct] } = startedInstances(ctx);
    const ns = cnciNamespace(ctx.cluster, ctx.tenantId);
    const token = randomBytes(8).toString('hex');
    // The opened port may be the user's own (a proxy): then any answer from it will do.
    const ours = await portIsFree(open) ? await tokenServer(open, token) : undefined;
    const closed = await tokenServer(await freePort(), token);
    const closedPort = (closed.address() as { port: number }).port;
    try {
      const probes = [
        { what: `container ${ct.id}`, get: (port: number) => httpGetFromContainer(ctx.cluster, ct.id, HOST_NAME, port, PATH) },
        { what: `VM ${vm.id}`, get: (port: number) => httpGetFromVm(ns, vm.ssh_ip!, ctx.sshKey, HOST_NAME, port, PATH) },
      ];
      for (const p of probes) {
        progress(`${p.what} → ${HOST_NAME}:${open}`);
        let last = '';
        await waitFor(`${p.what} to fetch http://${HOST_NAME}:${open}/${PATH}`, async () => {
          const r = await p.get(open);
          last = r.body;
          return ours ? r.ok && r.body === token : r.answered;
        }, { timeoutMs: ctx.timeouts.pingMs }).catch((err: Error) => { throw new Error(`${err.message}; last answer: ${last || '(none)'}`); });
        const shut = await p.get(closedPort);
        if (shut.answered) throw new Error(`${p.what} reached port ${closedPort} of the host's loopback, which was not opened (${shut.body})`);
      }
      return ours ? `fetched a token from ${HOST_NAME}:${open}; port ${closedPort} stayed closed` : `port ${open} (the user's own server) answered; port ${closedPort} stayed closed`;
    } finally {
      ours?.close();
      closed.close();
    }
  },
};
