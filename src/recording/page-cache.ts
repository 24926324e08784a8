import { loadAddon } from '../native/load-addon.js';

interface PageCacheAddon {
  dropCache(fd: number, offset: number, length: number): number;
}

/** src/native/asciicast's page-cache advice (page-cache.c). */
const addon = loadAddon<PageCacheAddon>('asciicast');

/**
 * Lets the kernel drop the page-cache pages of `fd`'s bytes [offset, offset + length), which must
 * already be fsynced (posix_fadvise DONTNEED; a page only partly in the range stays). A spool file
 * is written once and read back later at most twice, so keeping what was written in memory only
 * costs fresh pages for what comes next. Advice only: without the addon, or where the kernel
 * refuses, nothing happens and nothing is lost.
 */
export function dropFromCache(fd: number, offset: number, length: number): void {
  addon?.dropCache(fd, offset, length);
}
