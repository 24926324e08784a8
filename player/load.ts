import type { KeyObject } from 'node:crypto';
import type { Config } from '../src/config/load.js';
import { describeVerification, RecordingVerifier } from '../src/recording/manifest.js';
import { openRecordingSource, type RecordingSource } from '../src/storage/recording-source.js';
import { readRecording, type CodeValue, type LoadedRecording, type RecordingHeader } from './reader.js';
import { IndexBuilder, type SeekIndex } from './seek-index.js';

/** Whether the recording matched its signed manifest, in words for the metadata panel and --verify. */
export type Verification =
  | { readonly state: 'verified'; readonly text: string }
  | { readonly state: 'failed'; readonly text: string }
  | { readonly state: 'unchecked'; readonly text: string };

export interface Opened {
  readonly name: string;
  readonly rec: LoadedRecording;
  readonly index?: SeekIndex;
  readonly verification: Verification;
  /** Everything the user should know about what was read: skipped lines, damage, partial recordings. */
  readonly warnings: readonly string[];
}

export interface OpenOptions {
  readonly config?: Config;
  readonly maxBytes?: number;
  readonly trusted: readonly KeyObject[];
  /** Build the seek index while reading (for the interactive player). */
  readonly index?: boolean;
  /** Sees every event as it is read, in order (the non-interactive modes work this way). */
  readonly onEvent?: (i: number, t: number, code: CodeValue, data: string) => void;
  readonly onPiece?: () => Promise<void>;
  readonly onHeader?: (h: RecordingHeader) => void;
}

/** Reads a recording from wherever it is, in one pass: events, seek index and manifest check together. */
export async function openForPlayback(ref: string, o: OpenOptions): Promise<Opened> {
  const source = await openRecordingSource(ref, { ...(o.config ? { config: o.config } : {}), ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}) });
  try {
    return await readSource(source, o);
  } finally {
    source.close();
  }
}

async function readSource(source: RecordingSource, o: OpenOptions): Promise<Opened> {
  const warnings: string[] = [];
  if (source.partial) warnings.push(source.partial);
  const manifest = o.trusted.length > 0 ? await source.manifest() : undefined;
  const verifier = manifest !== undefined ? new RecordingVerifier(manifest, o.trusted) : undefined;
  let builder: IndexBuilder | undefined;
  let damaged = false;
  async function* tapped(): AsyncIterable<Buffer> {
    for await (const piece of source.pieces((w) => (warnings.push(w), (damaged = true)))) {
      verifier?.update(piece);
      yield piece;
    }
  }
  const rec = await readRecording(tapped(), {
    onEvent: (i, t, code, data) => {
      builder?.onEvent(i, code, data);
      o.onEvent?.(i, t, code, data);
    },
    onHeader: (h) => {
      if (o.index) builder = new IndexBuilder(h.cols, h.rows);
      o.onHeader?.(h);
    },
    onPiece: async () => {
      await builder?.catchUp();
      await o.onPiece?.();
    },
  });
  const index = o.index ? await (builder ?? new IndexBuilder(rec.header.cols, rec.header.rows)).finish() : undefined;
  warnings.push(...rec.warnings);
  let verification: Verification;
  if (o.trusted.length === 0) verification = { state: 'unchecked', text: 'not checked: give --config (its recording keys) or --public-key to verify the signature' };
  else if (!verifier) verification = { state: 'unchecked', text: source.partial ? 'not checked: there is no manifest yet' : 'not checked: no manifest beside the recording' };
  else {
    const result = verifier.finish();
    verification = result.ok && !damaged ? { state: 'verified', text: describeVerification(source.name, result) } : { state: 'failed', text: describeVerification(source.name, result) };
  }
  return { name: source.name, rec, ...(index ? { index } : {}), verification, warnings };
}
