// A container's wiring refuses values that are not one address (they become lines of `ip -batch`),
// and its resolver file names its tenant gateway only when the cluster has egress.
import t from 'tap';
import { attachContainer } from '../../network/container-link.ts';
import { containerResolvConf } from '../../launcher/docker-backend.ts';

const link = { nodeNs: 'ciao-nosuch-node-0', bridge: 't1', hostSide: 'c0123456789ab', pid: 1, mac: '02:00:ac:10:00:02', cidr: '172.16.0.2/24', gateway: '172.16.0.1' };

t.test('an address or gateway that is not one IPv4 word is refused before any command runs', async (t) => {
  await t.rejects(attachContainer({ ...link, cidr: '172.16.0.2/24 dev lo\nlink del eth0' }), /refused to wire a container with address "172\.16\.0\.2\/24 dev lo\\nlink del eth0"/);
  await t.rejects(attachContainer({ ...link, gateway: '172.16.0.1\nroute flush all' }), /refused to wire a container with gateway/);
  await t.rejects(attachContainer({ ...link, cidr: '172.16.0.2' }), /refused to wire a container with address/, 'an address without its prefix');
});

t.test("a container's resolv.conf: its gateway's DNS with egress, no resolver without", async (t) => {
  t.equal(containerResolvConf('172.16.0.1'), 'nameserver 172.16.0.1\n');
  t.notMatch(containerResolvConf(undefined), /nameserver/);
});
