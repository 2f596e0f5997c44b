import t from 'tap';
import { underlayMac } from '../../network/underlay.ts';

t.test("an underlay leg's MAC: the same each time it is made, its own per namespace and address", async (t) => {
  const mac = underlayMac('ciao-c1-net', '192.0.2.11/24');
  t.match(mac, /^02(:[0-9a-f]{2}){5}$/, 'locally administered, unicast');
  t.equal(underlayMac('ciao-c1-net', '192.0.2.11/24'), mac, 'made again: the same MAC');
  t.not(underlayMac('ciao-c2-net', '192.0.2.11/24'), mac, 'another cluster: another MAC');
  t.not(underlayMac('ciao-c1-net', '192.0.2.12/24'), mac, 'another address: another MAC');
});
