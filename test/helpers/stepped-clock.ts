// A clock a test steps through: `advance(ms)` runs the timers due by then, in their order.
import type { Clock } from '../../scheduler/gathering.ts';

export function steppedClock() {
  let time = 0;
  let timers: { at: number; fn: () => void }[] = [];
  const clock: Clock = {
    now: () => time,
    setTimer: (fn, ms) => {
      const timer = { at: time + ms, fn };
      timers.push(timer);
      return timer;
    },
    clearTimer: (timer) => void (timers = timers.filter((x) => x !== timer)),
  };
  const advance = (ms: number) => {
    const until = time + ms;
    for (;;) {
      const next = timers.filter((x) => x.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      timers = timers.filter((x) => x !== next);
      time = next.at;
      next.fn();
    }
    time = until;
  };
  return { clock, advance, pending: () => timers.length };
}
