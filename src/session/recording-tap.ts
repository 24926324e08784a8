import type { ActiveRecording } from '../recording/service.js';
import { PromptSecretDetector } from '../recording/secret-input.js';
import type { TargetStream } from '../targets/target.js';
import type { PumpTap } from './pump.js';

/**
 * What the pump shows the recorder and live viewers (the same redaction for both): output as it is, input as typed unless it goes to a hidden
 * prompt. A local pty says so from its terminal mode (certain for programs it runs directly); a
 * password-style prompt in the output hides the next line too, which covers upstream targets and
 * programs that put the pty in raw mode and forward keys elsewhere (nested ssh, kubectl exec, tmux).
 */
export function recordingTap(sinks: readonly SessionSink[], stream: TargetStream, onInput: () => void): PumpTap {
  const detector = new PromptSecretDetector();
  return {
    output(chunk) {
      for (const s of sinks) s.output(chunk);
      detector.output(chunk.subarray(-200).toString('latin1')); // a prompt ends the output: its tail is enough
    },
    backlog() {
      for (const s of sinks) {
        const wait = s.backlog?.();
        if (wait) return wait;
      }
      return undefined;
    },
    input(chunk) {
      onInput();
      if (sinks.length === 0) return;
      const byPrompt = detector.input(chunk);
      const hidden = stream.inputHidden?.() === true || byPrompt;
      for (const s of sinks) s.input(chunk, hidden);
    },
  };
}

/** Where a session's bytes go besides the client: the recording, live viewers. Must never block. */
export type SessionSink = Pick<ActiveRecording, 'output' | 'input'> & Partial<Pick<ActiveRecording, 'backlog'>>;
