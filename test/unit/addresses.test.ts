import t from 'tap';
import { allocateSubnet, gatewayOf, hostsOf, macFor, parseCidr } from '../../controller/addresses.ts';
import { firstShared, lowestFreeAddress, poolAddresses, poolSize } from '../../controller/pools.ts';
import type { Pool } from '../../controller/api-types.ts';

t.test('tenant subnets are consecutive /24s of 172.16.0.0/12, skipping taken ones', async (t) => {
  t.equal(allocateSubnet([], 24), '172.16.0.0/24');
  t.equal(allocateSubnet(['172.16.0.0/24'], 24), '172.16.1.0/24');
  t.equal(allocateSubnet(['172.16.0.0/24', '172.16.2.0/24'], 24), '172.16.1.0/24');
  t.equal(allocateSubnet(['172.16.0.0/16'], 24), '172.17.0.0/24', 'jumps past a large taken block');
  t.equal(allocateSubnet(['172.16.0.0/24'], 22), '172.16.4.0/22', 'aligns a larger subnet');
  t.throws(() => allocateSubnet([], 8), { code: 'invalid_request' });
  t.throws(() => allocateSubnet(['172.16.0.0/12'], 24), { code: 'pool_exhausted' });
});

t.test('the CNCI gateway of a subnet is its .1', async (t) => {
  t.equal(gatewayOf('172.16.3.0/24'), '172.16.3.1');
  t.same([...hostsOf('172.16.3.0/30')], ['172.16.3.1', '172.16.3.2']);
});

t.test('MAC is 02:00 and the four bytes of the IP', async (t) => {
  t.equal(macFor('172.16.0.2'), '02:00:ac:10:00:02');
  t.equal(macFor('10.255.1.254'), '02:00:0a:ff:01:fe');
});

t.test('CIDRs with host bits or bad prefixes are refused with a hint', async (t) => {
  t.throws(() => parseCidr('203.0.113.5/24'), { code: 'invalid_request', message: /did you mean 203.0.113.0\/24/ });
  t.throws(() => parseCidr('203.0.113.0'), { code: 'invalid_request' });
  t.throws(() => parseCidr('300.0.0.0/8'), { code: 'invalid_request' });
  t.same(parseCidr('203.0.113.0/24'), { base: 3405803776, bits: 24, size: 256 });
});

t.test('pools hand out their lowest free address', async (t) => {
  const a: Pool = { id: '1', name: 'a', subnets: ['203.0.113.0/30'], ips: [] };
  const b: Pool = { id: '2', name: 'b', subnets: [], ips: ['198.18.0.9', '198.18.0.7'] };
  t.same(poolAddresses(a), ['203.0.113.1', '203.0.113.2']);
  t.same(poolAddresses(b), ['198.18.0.7', '198.18.0.9']);
  t.equal(lowestFreeAddress([a], new Set()).ip, '203.0.113.1');
  t.equal(lowestFreeAddress([a], new Set(['203.0.113.1'])).ip, '203.0.113.2');
  t.equal(lowestFreeAddress([a, b], new Set()).ip, '198.18.0.7');
  t.throws(() => lowestFreeAddress([a], new Set(poolAddresses(a))), { code: 'pool_exhausted' });
});

t.test('pools are ranges: a /16 with a /24 inside it is sized, searched and compared as ranges', async (t) => {
  const big: Pool = { id: 'p', name: 'big', subnets: ['10.1.0.0/16', '10.1.255.0/24'], ips: ['10.2.0.1'] };
  t.equal(poolSize(big), 65_534 + 1, 'the /24 inside the /16 counts once');
  t.equal(lowestFreeAddress([big], new Set(['10.1.0.1', '10.1.0.2'])).ip, '10.1.0.3');
  t.equal(firstShared(big, { id: 'q', name: 'q', subnets: ['10.1.200.0/30'], ips: [] }), '10.1.200.1');
  t.equal(firstShared(big, { id: 'r', name: 'r', subnets: [], ips: ['10.3.0.1'] }), undefined);
});
