import t from 'tap';
import { checkQuota, quotaReport, type Usage } from '../../controller/quotas.ts';

const usage: Usage = { instances: 2, vcpus: 2, mem_mb: 512, disk_mb: 0, external_ips: 0, images: 1, image_mb: 0, volumes: 0, volume_mb: 0 };

t.test('no limits means unlimited', async (t) => {
  t.doesNotThrow(() => checkQuota(undefined, usage, { instances: 1000, mem_mb: 1e6 }));
});

t.test('a request over a limit is refused naming the limit and the usage', async (t) => {
  const q = { id: 't', limits: { instances: 3, mem_mb: 600 } };
  t.doesNotThrow(() => checkQuota(q, usage, { instances: 1, mem_mb: 88 }));
  t.throws(() => checkQuota(q, usage, { instances: 2 }), { code: 'over_quota', message: /quota instances is 3 and 2 is in use/ });
  t.throws(() => checkQuota(q, usage, { instances: 1, mem_mb: 89 }), { code: 'over_quota', message: /mem_mb/ });
});

t.test('a limit of -1 is unlimited and 0 forbids', async (t) => {
  t.doesNotThrow(() => checkQuota({ id: 't', limits: { vcpus: -1 } }, usage, { vcpus: 99 }));
  t.throws(() => checkQuota({ id: 't', limits: { external_ips: 0 } }, usage, { external_ips: 1 }), { code: 'over_quota' });
});

t.test('the report lists every quota with limit and usage', async (t) => {
  const r = quotaReport({ id: 't', limits: { instances: 5 } }, usage);
  t.same(r.quotas.find((q) => q.name === 'instances'), { name: 'instances', limit: 5, usage: 2 });
  t.same(r.quotas.find((q) => q.name === 'images'), { name: 'images', limit: -1, usage: 1 });
  t.same(r.quotas.map((q) => q.name), ['instances', 'vcpus', 'mem_mb', 'disk_mb', 'external_ips', 'images', 'image_mb', 'volumes', 'volume_mb']);
});
