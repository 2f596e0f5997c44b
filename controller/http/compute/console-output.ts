// POST /servers/{id}/action {"os-getConsoleOutput": {"length": N}}: Nova's console log, read from
// the instance's node (controller/console-requests.ts). 200 {output}; 409 when no node holds the
// server; 504 with Retry-After when its node did not answer in time.
import { z } from 'zod';
import { parseInput } from '../../../shared/http-router.ts';
import { CONSOLE_MAX_LINES } from '../../../protocol/payloads.ts';
import type { Instance } from '../../api-types.ts';
import type { Services } from '../../services.ts';

/** Nova's schema: an integer of -1 or more, the same as a string of digits, or null; -1 and null
 *  (and leaving it out) mean the whole log. */
export const ConsoleOutputAction = z.strictObject({
  length: z.union([z.number().int().min(-1), z.string().max(16).regex(/^(-1|[0-9]+)$/, 'must be a whole number of -1 or more'), z.null()]).optional(),
});

/** The lines asked of the node: null for all (a length past what 64 KiB can hold is all too). */
export function consoleLines(length: number | string | null | undefined): number | null {
  const n = length === null || length === undefined ? -1 : Number(length);
  return n === -1 || n > CONSOLE_MAX_LINES ? null : n;
}

export async function consoleOutput(s: Services, inst: Instance, body: unknown): Promise<{ output: string }> {
  const { length } = parseInput(ConsoleOutputAction, body, 'os-getConsoleOutput');
  const { output } = await s.consoles.ask(inst, consoleLines(length));
  return { output };
}
