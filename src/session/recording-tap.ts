import type { ActiveRecording } from '../recording/service.js';
import { PromptSecretDetector } from '../recording/secret-input.js';
import type { TargetStream } from '../targets/target.js';
import type { PumpTap } from './pump.js';

/**
 * What the pump shows the recorder: output as it is, input as typed unless it goes to a hidden
 * prompt. A local pty says so from its terminal mode (certain for programs it runs directly); a
 * password-style prompt in the output hides the next line too, which covers upstream targets and
 * programs that put the pty in raw mode and forward keys elsewhere (nested ssh, kubectl exec, tmux).
 */
export function recordingTap(recording: ActiveRecording | undefined, stream: TargetStream, onInput: () => void): PumpTap {
  const detector = new PromptSecretDetector();
  return {
    output(chunk) {
      recording?.output(chunk);
      detector.output(chunk.subarray(-200).toString('latin1')); // a prompt ends the output: its tail is enough
    },
    input(chunk) {
      onInput();
      if (!recording) return;
      const byPrompt = detector.input(chunk);
      recording.input(chunk, stream.inputHidden?.() === true || byPrompt);
    },
  };
}
