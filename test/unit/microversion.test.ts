// Microversion negotiation shared by compute and Block Storage: the service's entry in
// OpenStack-API-Version, and the version served for what a client asked.
import t from 'tap';
import { negotiate, versionInHeader } from '../../controller/http/microversion.ts';

t.test('a service finds its own entry among others, case-insensitively', async (t) => {
  t.equal(versionInHeader('compute 2.20, volume 3.0', 'volume'), '3.0');
  t.equal(versionInHeader('Volume latest', 'volume'), 'latest');
  t.equal(versionInHeader('compute 2.20', 'volume'), undefined, 'none for this service');
});

t.test('the minimum when none is asked, the maximum for latest, 406 outside, 400 malformed', async (t) => {
  const range = { min: '3.0', max: '3.12' };
  t.equal(negotiate(undefined, range), '3.0');
  t.equal(negotiate('LATEST', range), '3.12');
  t.equal(negotiate('3.9', range), '3.9', 'compared as numbers, not text');
  t.throws(() => negotiate('3.13', range), { code: 'version_not_supported', message: /Minimum is 3\.0 and maximum is 3\.12/ });
  t.throws(() => negotiate('2.99', range), { code: 'version_not_supported' });
  for (const bad of ['3', '3.x', '03.1', '3.1.1', '']) t.throws(() => negotiate(bad, range), { code: 'invalid_request' }, JSON.stringify(bad));
});
