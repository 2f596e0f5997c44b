import t from 'tap';
import { egressOffRules, readTenantEgress, saveTenantEgress } from '../../cnci/tenant-egress.ts';
import { tempDir } from '../../shared/temp-dir.ts';

t.test("egress off drops both directions between the tenant's bridge and the leg, every packet, except DNATed flows and the cluster network", async (t) => {
  const [out, back] = egressOffRules('t42');
  t.match(out.join(' '), /^-i t42 -o uplink ! -d 198\.51\.100\.0\/24 -m conntrack ! --ctstate DNAT -j DROP$/);
  t.match(back.join(' '), /^-i uplink -o t42 ! -s 198\.51\.100\.0\/24 -m conntrack ! --ctstate DNAT -j DROP$/);
  t.notMatch([...out, ...back].join(' '), /NEW|ESTABLISHED/, 'established flows are dropped too, not only new ones');
});

t.test('a CNCI never told has egress off; what it was told is kept', async (t) => {
  const { path, remove } = tempDir('tenant-egress');
  t.teardown(remove);
  t.equal(await readTenantEgress(path), false, 'fail closed');
  await saveTenantEgress(path, true);
  t.equal(await readTenantEgress(path), true);
  await saveTenantEgress(path, false);
  t.equal(await readTenantEgress(path), false);
});
