/** Writes a synthetic asciicast v2 recording of about `bytes` bytes (see gen-recording.mjs). */
export function generateRecording(
  path: string,
  o: { bytes: number; cols?: number; rows?: number; needle?: string },
): Promise<{ bytes: number; events: number; duration: number; lastScreenLine: string }>;
