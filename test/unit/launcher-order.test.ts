// A node begins its commands in the order they came, also when one of them is recorded first
// (docs/protocol.md, "Actions": actions.json): a DELETE right after a START finds the instance.
import t from 'tap';
import { join } from 'node:path';
import { Launcher } from '../../launcher/launcher.ts';
import { SimulationBackend } from '../../launcher/simulation-backend.ts';
import type { Frame, StartPayload } from '../../protocol/payloads.ts';
import { silentLogger } from '../../shared/log.ts';
import { tempDir } from '../../shared/temp-dir.ts';

t.test('a DELETE that comes right after a START is begun after it: the instance is started, then deleted, and runs nowhere', async (t) => {
  const { path, remove } = tempDir('ciao-launcher-order');
  t.teardown(remove);
  const backend = new SimulationBackend({ bootDelayMs: 20 });
  const launcher = new Launcher({
    nodeId: 'n', hostname: 'n', roles: ['compute'], scheduler: { host: '127.0.0.1', port: 1, tls: { ca: Buffer.from(''), cert: Buffer.from(''), key: Buffer.from('') } },
    capacity: { vcpus: 8, memMB: 4096, diskMB: 20_000 }, backends: { qemu: backend, docker: backend }, statsIntervalMs: 1000,
    actionsFile: join(path, 'actions.json'), logger: silentLogger(),
  });
  const spec: StartPayload = {
    instanceId: '6f0e7a3c-1d2b-4c5d-8e9f-0a1b2c3d4e5f', tenantId: 't', workloadId: 'w', vmType: 'docker', image: 'x',
    resources: { vcpus: 1, memMB: 128, diskMB: 10 }, requirements: {},
    network: { ip: '172.16.0.2', mac: '02:00:ac:10:00:02', subnet: '172.16.0.0/24', gateway: '172.16.0.1' },
  };
  // As the peer hands them over: one after the other, in one go.
  const handle = (launcher as unknown as { handle(f: Frame): Promise<void> }).handle.bind(launcher);
  const started = handle({ type: 'COMMAND', op: 'START', payload: spec });
  const deleted = handle({ type: 'COMMAND', op: 'DELETE', payload: { instanceId: spec.instanceId } });
  await Promise.all([started, deleted]);
  // Both are done: the start has ended, and the delete it found under way with it.
  t.same(await backend.list(), [], 'it runs nowhere');
});
