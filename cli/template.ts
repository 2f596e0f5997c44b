// `-f` templates for scripts, a small subset of Go's text/template (what the original ciao CLI
// used): {{.field}}, {{.a.b}}, {{len .}}, {{index . 0}}, {{(index . 0).id}}, {{range .}}…{{end}}.

type Value = unknown;

export class TemplateError extends Error {
  override name = 'TemplateError';
}

function field(value: Value, path: string): Value {
  if (path === '' || path === '.') return value;
  let v = value;
  for (const key of path.replace(/^\./, '').split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, Value>)[key];
  }
  return v;
}

/** Evaluates one action's expression against the current value. */
function evaluate(expr: string, dot: Value): Value {
  const e = expr.trim();
  let m = /^len\s+(.+)$/.exec(e);
  if (m) {
    const v = evaluate(m[1], dot);
    if (Array.isArray(v) || typeof v === 'string') return v.length;
    if (v && typeof v === 'object') return Object.keys(v).length;
    throw new TemplateError(`len of a ${v === null ? 'null' : typeof v}`);
  }
  m = /^\(\s*(.+?)\s*\)(\.[\w.]+)?$/.exec(e);
  if (m) return field(evaluate(m[1], dot), m[2] ?? '');
  m = /^index\s+(\S+)\s+(-?\d+|"[^"]*")$/.exec(e);
  if (m) {
    const v = evaluate(m[1], dot);
    const key = m[2].startsWith('"') ? m[2].slice(1, -1) : Number(m[2]);
    return v !== null && typeof v === 'object' ? (v as Record<string | number, Value>)[key] : undefined;
  }
  if (e === '.' || /^(\.[\w]+)+$/.test(e)) return field(dot, e);
  throw new TemplateError(`unsupported template action {{${e}}}: use .field, len, index, range`);
}

const show = (v: Value): string => (v === undefined || v === null ? '<no value>' : typeof v === 'object' ? JSON.stringify(v) : String(v));

type Node = { text: string } | { action: string } | { range: string; body: Node[] };

function parse(src: string): Node[] {
  const tokens = src.split(/(\{\{.*?\}\})/s).filter((x) => x !== '');
  const stack: Node[][] = [[]];
  const ranges: { range: string; body: Node[] }[] = [];
  for (const tok of tokens) {
    const m = /^\{\{(.*)\}\}$/s.exec(tok);
    const top = stack[stack.length - 1];
    if (!m) {
      top.push({ text: tok.replace(/\\n/g, '\n').replace(/\\t/g, '\t') });
      continue;
    }
    const action = m[1].trim();
    if (action.startsWith('range ')) {
      const node = { range: action.slice(6), body: [] as Node[] };
      top.push(node);
      ranges.push(node);
      stack.push(node.body);
    } else if (action === 'end') {
      if (!ranges.pop()) throw new TemplateError('{{end}} without {{range}}');
      stack.pop();
    } else top.push({ action });
  }
  if (ranges.length) throw new TemplateError('{{range}} without {{end}}');
  return stack[0];
}

function render(nodes: Node[], dot: Value): string {
  let out = '';
  for (const n of nodes) {
    if ('text' in n) out += n.text;
    else if ('action' in n) out += show(evaluate(n.action, dot));
    else {
      const items = evaluate(n.range, dot);
      if (!Array.isArray(items)) throw new TemplateError(`range over a ${typeof items}, not a list`);
      for (const item of items) out += render(n.body, item);
    }
  }
  return out;
}

export function applyTemplate(template: string, data: Value): string {
  return render(parse(template), data);
}
