import t from 'tap';
import { formatObject, formatTable } from '../../cli/table.ts';

t.test('columns are aligned under their titles, empty cells show -', async (t) => {
  const out = formatTable([{ id: 'a1', ip: null }, { id: 'b', ip: '172.16.0.2' }], [
    { title: 'ID', value: (r) => r.id }, { title: 'IP', value: (r) => r.ip },
  ]);
  t.equal(out, 'ID  IP\na1  -\nb   172.16.0.2');
  t.equal(formatTable([], [{ title: 'ID', value: () => 1 }]), '(none)');
});

t.test('one object is key: value lines', async (t) => {
  t.equal(formatObject({ id: 'x', roles: ['a', 'b'], cnci: null }), 'id:    x\nroles: a,b\ncnci:  -');
});
