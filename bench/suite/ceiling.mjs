// What item 1's exec of `/dev/zero` can reach at best once recorded, measured on this machine in
// this process. Every NUL is six bytes of asciicast (`\u0000`, the only JSON spelling of it), which
// the recording must escape and hash with SHA-256 (the chunk chain that makes it tamper-evident)
// before any of it is written. Here that work runs alone on one otherwise idle thread, with the
// built bastion's own escaper and Node's SHA-256 (SHA-NI where the CPU has it), and no disk: the
// rate it allows is an upper bound for any recorder that keeps the format and the hash. The suite
// sets it beside sshd's exec rate of the same run (which itself keeps the machine's cores busy).
import { createHash } from 'node:crypto';
import { escapeJsonInto } from '../../dist/src/recording/json-escape.js';

const MB = 1024 * 1024;
const PIECE = 64 * 1024; // what one read of the target's pipe gives the bastion

/** { escape_mb_s, sha256_mb_s (of asciicast), input_mb_s (NUL input both allow, one after the other), expansion }. */
export function recordingCeiling({ mb = 256, tries = 3 } = {}) {
  const src = Buffer.alloc(PIECE);
  const dst = Buffer.alloc(6 * PIECE);
  const n = Math.max(1, Math.round((mb * MB) / PIECE));
  const expansion = escapeJsonInto(src, dst, 0) / PIECE;
  const best = (fn) => {
    let ms = Infinity;
    for (let t = 0; t < tries; t++) {
      const t0 = performance.now();
      fn();
      ms = Math.min(ms, performance.now() - t0);
    }
    return ms / 1000;
  };
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
  return {
    input_mb: inputMb,
    expansion,
    escape_mb_s: round(inputMb / escapeS),
    sha256_mb_s: round((inputMb * expansion) / hashS),
    input_mb_s: round(inputMb / (escapeS + hashS)),
  };
}

const round = (x) => Math.round(x * 10) / 10;
