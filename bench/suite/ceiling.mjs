// What item 1's exec of `/dev/zero` can reach at best once recorded, measured on this machine in
// this process. Every NUL is six bytes of asciicast (`\u0000`, the only JSON spelling of it), which
// the recording must escape, hash with SHA-256 (the chunk chain that makes it tamper-evident) and
// write durably to the spool. Two bounds, each measured alone with nothing else running:
// - CPU: the built bastion's own escaper, then Node's SHA-256 (SHA-NI where the CPU has it), one
//   thread, no disk;
// - disk: the escaped bytes written to a file in the spool's filesystem (the temp dir here), with
//   an fdatasync every 64 MB and the synced range dropped from the page cache, as the recorder does.
// No recorder that keeps the format, the hash and the durability does better than the lower of the
// two. The suite sets it beside sshd's exec rate of the same run.
import { createHash } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { escapeJsonInto } from '../../dist/src/recording/json-escape.js';
import { dropFromCache } from '../../dist/src/recording/page-cache.js';

const MB = 1024 * 1024;
const PIECE = 64 * 1024; // what one read of the target's pipe gives the bastion

/**
 * { escape_mb_s, sha256_mb_s (of asciicast), cpu_input_mb_s (NUL input both allow one after the
 * other), disk_mb_s (of asciicast), disk_input_mb_s, input_mb_s (the lower bound), expansion };
 * the disk figures are null, with `disk_skipped` saying why, when DIR has too little room.
 */
export function recordingCeiling({ mb = 256, diskMb = 1024, dir, tries = 3 } = {}) {
  const src = Buffer.alloc(PIECE);
  const dst = Buffer.alloc(6 * PIECE);
  const n = Math.max(1, Math.round((mb * MB) / PIECE));
  const expansion = escapeJsonInto(src, dst, 0) / PIECE;
  const best = (fn) => bestSeconds(fn, tries);
  const escapeS = best(() => {
    for (let i = 0; i < n; i++) escapeJsonInto(src, dst, 0);
  });
  const escaped = dst.subarray(0, expansion * PIECE);
  const hashS = best(() => {
    const h = createHash('sha256');
    for (let i = 0; i < n; i++) h.update(escaped);
    h.digest();
  });
  const inputMb = (n * PIECE) / MB;
  const cpu = inputMb / (escapeS + hashS);
  const disk = dir ? diskRate(dir, diskMb, escaped) : { skipped: 'no directory given' };
  const diskInput = disk.mbs === undefined ? null : disk.mbs / expansion;
  return {
    input_mb: inputMb,
    expansion,
    escape_mb_s: round(inputMb / escapeS),
    sha256_mb_s: round((inputMb * expansion) / hashS),
    cpu_input_mb_s: round(cpu),
    disk_mb_s: disk.mbs === undefined ? null : round(disk.mbs),
    disk_input_mb_s: diskInput === null ? null : round(diskInput),
    ...(disk.skipped ? { disk_skipped: disk.skipped } : {}),
    input_mb_s: round(Math.min(cpu, diskInput ?? Infinity)),
  };
}

/** MB/s of durable writes of BYTES (repeated) into a file in DIR, best of 2: { mbs } or { skipped }. */
function diskRate(dir, diskMb, bytes) {
  const size = diskMb * MB;
  const { bavail, bsize } = statfsSync(dir);
  if (bavail * bsize < 3 * size) return { skipped: `under ${(3 * diskMb) / 1024} GB free in ${dir}` };
  const path = join(dir, `ceiling-${process.pid}.cast`);
  const SYNC = 64 * MB;
  try {
    const s = bestSeconds(() => {
      const fd = openSync(path, 'w', 0o600);
      try {
        let written = 0;
        let synced = 0;
        while (written < size) {
          written += writeSync(fd, bytes);
          if (written - synced >= SYNC) {
            fdatasyncSync(fd);
            dropFromCache(fd, 0, written);
            synced = written;
          }
        }
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
        rmSync(path, { force: true });
      }
    }, 2);
    return { mbs: size / MB / s };
  } catch (err) {
    rmSync(path, { force: true });
    return { skipped: `the write failed: ${err.message}` };
  }
}

/** The shortest of TIMES runs of FN, in seconds. */
function bestSeconds(fn, times) {
  let ms = Infinity;
  for (let t = 0; t < times; t++) {
    const t0 = performance.now();
    fn();
    ms = Math.min(ms, performance.now() - t0);
  }
  return ms / 1000;
}

const round = (x) => Math.round(x * 10) / 10;
