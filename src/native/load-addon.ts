import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** One of the small native addons in src/native, built by `npm install` (node-gyp); undefined when it is not built. */
export function loadAddon<T>(name: string): T | undefined {
  // From src/native (tests) or dist/src/native (the built program).
  for (const rel of [`./${name}/build/Release/${name}.node`, `../../../src/native/${name}/build/Release/${name}.node`]) {
    try {
      return require(rel) as T;
    } catch {
      // try the next place
    }
  }
  return undefined;
}
