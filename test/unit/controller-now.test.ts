// The controller's clock string (controller/context.ts): made once per millisecond, always the time.
import t from 'tap';
import { now } from '../../controller/context.ts';

t.test('now is the current time as an ISO string, the same string within a millisecond', (t) => {
  const before = Date.now();
  const a = now();
  const after = Date.now();
  const at = Date.parse(a);
  t.ok(at >= before && at <= after, `${a} is between the readings of the clock around it`);
  t.match(a, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  // Two calls within one millisecond (the clock read around them says so) give the same time.
  for (;;) {
    const ms = Date.now();
    const x = now();
    const y = now();
    if (Date.now() !== ms) continue;
    t.equal(x, y);
    t.equal(Date.parse(x), ms, 'the millisecond it was called in');
    break;
  }
  // And once the clock has moved on, the new time.
  const first = Date.parse(now());
  let later = first;
  while (later === first) later = Date.parse(now());
  t.ok(later > first, 'a later millisecond gives a later time');
  t.end();
});
