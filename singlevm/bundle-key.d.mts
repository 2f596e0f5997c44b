// Types of bundle-key.mjs (plain JavaScript, so the scripts' launcher runs it without a TypeScript loader).
export const REPO: string;
export const BUNDLES_DIR: string;
export function bundleKey(inputs: string[], options: string): string;
export function builtBundles(set: string, names: string[], options: string): { dir: string; files: Record<string, string> } | undefined;
export function bundleOptions(entries: Record<string, string>, splitting: boolean): string;
export function rememberedKey(memoFile: string, inputs: string[], options: string, now?: number): string;
export function keyMemo(set: string): string;
