import t from 'tap';
import { createMemoryStore } from '../../controller/datastore/memory-store.ts';
import { InstanceBook } from '../../controller/instance-book.ts';
import type { Instance } from '../../controller/api-types.ts';

const SUBNET = '172.16.3.0/24';
const inst = (id: string, ip: string, extra: Partial<Instance> = {}) => ({
  id, tenant_id: 't1', ip, cnci: false, vcpus: 1, mem_mb: 64, disk_mb: 10, state: 'pending', ...extra,
}) as Instance;

t.test('instance addresses start at .2 (.1 is the CNCI gateway) and fill gaps', async (t) => {
  const store = createMemoryStore();
  const book = new InstanceBook(store.instances);
  t.same(book.allocate('t1', SUBNET, 2), ['172.16.3.2', '172.16.3.3'], 'nothing is taken until written');
  t.same(book.allocate('t1', SUBNET, 1), ['172.16.3.2']);
  store.instances.put(inst('gw', '172.16.3.1', { cnci: true }));
  store.instances.put(inst('a', '172.16.3.2'));
  store.instances.put(inst('c', '172.16.3.4'));
  t.same(book.allocate('t1', SUBNET, 3), ['172.16.3.3', '172.16.3.5', '172.16.3.6']);
  store.instances.put(inst('b', '172.16.3.3'));
  t.same(book.allocate('t1', SUBNET, 1), ['172.16.3.5']);
  store.instances.delete('a');
  t.same(book.allocate('t1', SUBNET, 1), ['172.16.3.2'], 'a freed address is the lowest free one again');
  store.instances.delete('gw');
  t.same(book.allocate('t1', SUBNET, 1), ['172.16.3.2'], 'the gateway is never an instance address');
  t.same(book.allocate('t2', SUBNET, 1), ['172.16.3.2'], 'another tenant has its own addresses');
});

t.test('a full subnet refuses with pool_exhausted, and gives nothing', async (t) => {
  const store = createMemoryStore();
  const book = new InstanceBook(store.instances);
  store.instances.put(inst('a', '172.16.3.2'));
  t.throws(() => book.allocate('t1', '172.16.3.0/30', 1), { code: 'pool_exhausted' });
  t.throws(() => book.allocate('t1', '172.16.3.0/29', 5), { code: 'pool_exhausted' }, 'not enough for the whole batch');
  t.same(book.allocate('t1', '172.16.3.0/29', 4), ['172.16.3.3', '172.16.3.4', '172.16.3.5', '172.16.3.6']);
});

t.test('held resources follow records written in place, CNCIs aside, a resize at its larger flavor', async (t) => {
  const store = createMemoryStore();
  store.instances.put(inst('a', '172.16.3.2'));
  const book = new InstanceBook(store.instances);
  t.same(book.held('t1'), { instances: 1, vcpus: 1, mem_mb: 64, disk_mb: 10 }, 'records already there are counted');
  store.instances.put(inst('gw', '172.16.3.1', { cnci: true }));
  const b = inst('b', '172.16.3.3');
  store.instances.put(b);
  t.same(book.held('t1'), { instances: 2, vcpus: 2, mem_mb: 128, disk_mb: 20 });
  Object.assign(b, { resize: { phase: 'verify', from: { vcpus: 1, mem_mb: 64, disk_mb: 10 }, to: { vcpus: 4, mem_mb: 512, disk_mb: 5 } } });
  store.instances.put(b);
  t.same(book.held('t1'), { instances: 2, vcpus: 5, mem_mb: 576, disk_mb: 20 });
  store.instances.delete('b');
  store.instances.delete('gw');
  t.same(book.held('t1'), { instances: 1, vcpus: 1, mem_mb: 64, disk_mb: 10 });
  t.same(book.held('nobody'), { instances: 0, vcpus: 0, mem_mb: 0, disk_mb: 0 });
});

t.test('instances are counted by state as their records change, CNCIs aside', async (t) => {
  const store = createMemoryStore();
  const book = new InstanceBook(store.instances);
  const a = inst('a', '172.16.3.2');
  store.instances.put(a);
  store.instances.put(inst('b', '172.16.3.3'));
  store.instances.put(inst('gw', '172.16.3.1', { cnci: true }));
  t.equal(book.pendingStarts, 2);
  Object.assign(a, { state: 'active' });
  store.instances.put(a);
  t.same([book.count(), book.count('pending'), book.count('active'), book.pendingStarts], [2, 1, 1, 1]);
  store.instances.delete('b');
  t.same([book.count(), book.count('pending'), book.count('active')], [1, 0, 1]);
});

t.test('the instances on each node follow their records: placed, moved, deleted, loaded', async (t) => {
  const store = createMemoryStore();
  store.instances.put(inst('loaded', '172.16.3.9', { node_id: 'n1' }));
  const book = new InstanceBook(store.instances);
  t.same(book.onNode('n1'), ['loaded'], 'what was there before the book');
  store.instances.put(inst('a', '172.16.3.2'));
  t.same(book.onNode('n1'), ['loaded'], 'not placed: on no node');
  store.instances.put(inst('a', '172.16.3.2', { node_id: 'n1' }));
  store.instances.put(inst('gw', '172.16.3.1', { cnci: true, node_id: 'n2' }));
  t.same(book.onNode('n1'), ['loaded', 'a']);
  t.same(book.onNode('n2'), ['gw'], 'a CNCI too');
  store.instances.put(inst('a', '172.16.3.2', { node_id: 'n2', state: 'active' }));
  t.same([book.onNode('n1'), book.onNode('n2')], [['loaded'], ['gw', 'a']], 'moved');
  store.instances.delete('a');
  store.instances.delete('loaded');
  t.same([book.onNode('n1'), book.onNode('n2')], [[], ['gw']], 'deleted');
});
