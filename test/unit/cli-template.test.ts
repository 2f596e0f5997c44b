import t from 'tap';
import { applyTemplate } from '../../cli/template.ts';

const instances = [{ id: 'a', state: 'active', net: { ip: '172.16.0.2' } }, { id: 'b', state: 'exited', net: { ip: '172.16.0.3' } }];

t.test('fields, nested fields, len and index', async (t) => {
  t.equal(applyTemplate('{{len .}}', instances), '2');
  t.equal(applyTemplate('{{(index . 1).id}}', instances), 'b');
  t.equal(applyTemplate('{{index . 0}}', ['x', 'y']), 'x');
  t.equal(applyTemplate('{{.net.ip}}', instances[0]), '172.16.0.2');
  t.equal(applyTemplate('{{.missing}}', instances[0]), '<no value>');
  t.equal(applyTemplate('{{.net}}', instances[0]), '{"ip":"172.16.0.2"}');
});

t.test('range with text and escapes', async (t) => {
  t.equal(applyTemplate('{{range .}}{{.id}}={{.state}}\\n{{end}}', instances), 'a=active\nb=exited\n');
  t.equal(applyTemplate('ids:{{range .}} {{.id}}{{end}}', instances), 'ids: a b');
});

t.test('unsupported or unbalanced templates are clear errors', async (t) => {
  t.throws(() => applyTemplate('{{if .x}}', {}), { name: 'TemplateError', message: /unsupported template action/ });
  t.throws(() => applyTemplate('{{range .}}', instances), { message: /without \{\{end\}\}/ });
  t.throws(() => applyTemplate('{{end}}', instances), { message: /without \{\{range\}\}/ });
  t.throws(() => applyTemplate('{{range .id}}{{end}}', instances[0]), { message: /range over a string/ });
});
