import t from 'tap';
import { Resolver } from 'node:dns/promises';
import { startDnsStub } from '../../bat/dns-stub.ts';
import { freePort } from '../../singlevm/ports.ts';

t.test('the stub resolver answers A for its zone, NXDOMAIN for the rest, and records what was asked', async (t) => {
  const port = await freePort();
  const stub = await startDnsStub(port, 'egress.test', '192.0.2.77');
  t.teardown(() => stub.close());
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  t.same(await r.resolve4('probe-1.Egress.Test'), ['192.0.2.77']);
  await t.rejects(r.resolve4('example.org'), { code: 'ENOTFOUND' });
  t.same(stub.asked, ['probe-1.egress.test', 'example.org']);
});
