// Readiness notification, as systemd's sd_notify does it but over Node's IPC channel: a daemon
// started with `notifies` (shared/detached.ts) says once that it is ready — listening, or its nodes
// joined — and whoever started it stops waiting at that moment, with no poll interval on the way.
// A daemon started any other way (by hand, by a test) has no channel, and this does nothing.

/** The one message a daemon sends. */
export const READY_MESSAGE = { ciao: 'ready' } as const;

export const isReadyMessage = (m: unknown): boolean => typeof m === 'object' && m !== null && (m as { ciao?: unknown }).ciao === 'ready';

/** Tells the process that started this one, if it asked (an IPC channel), that this one is ready;
 *  then lets the channel go, so it holds neither process. */
export function notifyReady(): void {
  if (!process.send || !process.connected) return;
  try {
    process.send(READY_MESSAGE, undefined, {}, () => {
      if (process.connected) process.disconnect();
    });
  } catch {
    // The starter is gone already: nobody waits.
  }
}
