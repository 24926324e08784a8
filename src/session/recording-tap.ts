import type { ActiveRecording } from '../recording/service.js';
import { PromptSecretDetector } from '../recording/secret-input.js';
import type { TargetStream } from '../targets/target.js';
import type { PumpTap } from './pump.js';

/**
 * What the pump shows the recorder: output as it is, input as typed unless it goes to a hidden
 * prompt. Local ptys say so from their terminal mode (certain); elsewhere a password-style prompt
 * in the output hides the next line (best effort).
 */
export function recordingTap(recording: ActiveRecording | undefined, stream: TargetStream, onInput: () => void): PumpTap {
  const detector = new PromptSecretDetector();
  const knowsMode = stream.inputHidden?.() !== undefined;
  return {
    output(chunk) {
      recording?.output(chunk);
      if (!knowsMode) detector.output(chunk.toString('latin1'));
    },
    input(chunk) {
      onInput();
      if (!recording) return;
      const hidden = knowsMode ? stream.inputHidden?.() === true : detector.input(chunk);
      recording.input(chunk, hidden);
    },
  };
}
