// Nova's personality (injected files, up to microversion 2.56): files a create or a rebuild asks
// to find in the guest. They travel in the START/REBUILD payload; a VM gets them on its config
// drive (OpenStack's layout: meta_data.json `files`, `openstack/content/NNNN`) and its init writes
// them at each boot, a container gets them in its file system before it first starts (docs/api.md).
import { z } from 'zod';
import { ApiError, badRequest } from '../../../shared/errors.ts';
import type { InjectedFile } from '../../../protocol/payloads.ts';

/** Nova's default quotas for injected files, fixed here (os-quota-sets shows them, PUT keeps them). */
export const INJECTED_FILES = 5;
export const INJECTED_FILE_CONTENT_BYTES = 10_240;
export const INJECTED_FILE_PATH_BYTES = 255;

/** As the body gives them; sizes are checked against the quotas below (403, as Nova), not here. */
export const Personality = z.array(z.strictObject({ path: z.string().min(1).max(1024), contents: z.string().max(65_536) })).max(100);
export type Personality = z.infer<typeof Personality>;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A path the guest can be given: no control characters, quotes or backslashes (the guest's init
 *  reads it from JSON with sed), no "." or ".." segment, not the root itself. */
function checkPath(path: string) {
  if (/[\u0000-\u001f\u007f"\\]/.test(path)) throw badRequest(`personality path ${JSON.stringify(path.slice(0, 64))} holds a control character, a quote or a backslash`);
  const segments = path.split('/').filter(Boolean);
  if (!segments.length || segments.some((s) => s === '.' || s === '..')) throw badRequest(`personality path ${JSON.stringify(path.slice(0, 64))} must name a file below / without "." or ".." segments`);
}

/** The files checked and with their contents decoded once (400 for what is not base64, 403 over
 *  the quotas, as Nova); `undefined` when none were given. */
export function injectedFiles(personality: Personality | undefined): InjectedFile[] | undefined {
  if (personality === undefined) return undefined;
  if (personality.length > INJECTED_FILES) throw new ApiError('forbidden', `Quota exceeded: personality names ${personality.length} files, more than the ${INJECTED_FILES} allowed (injected_files)`);
  return personality.map(({ path, contents }) => {
    if (Buffer.byteLength(path) > INJECTED_FILE_PATH_BYTES) throw new ApiError('forbidden', `Quota exceeded: a personality path is over ${INJECTED_FILE_PATH_BYTES} bytes (injected_file_path_bytes)`);
    checkPath(path);
    const squeezed = contents.replace(/\s/g, '');
    if (squeezed.length % 4 !== 0 || !BASE64.test(squeezed)) throw badRequest(`Personality content for ${path.slice(0, 64)} cannot be decoded: it must be base64`);
    const bytes = Buffer.from(squeezed, 'base64');
    if (bytes.length > INJECTED_FILE_CONTENT_BYTES) throw new ApiError('forbidden', `Quota exceeded: the personality file ${path.slice(0, 64)} is ${bytes.length} bytes, over ${INJECTED_FILE_CONTENT_BYTES} (injected_file_content_bytes)`);
    return { path: `/${path.split('/').filter(Boolean).join('/')}`, contents: bytes.toString('base64') };
  });
}
