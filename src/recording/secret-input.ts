/**
 * Best-effort detection of typed secrets where the terminal mode cannot be read (upstream SSH
 * targets): after output that ends in a password-style prompt, input is hidden until Enter.
 */
const PROMPT = /(pass(word|phrase)|PIN|secret|token|verification code)[^\n]{0,40}:\s*$/i;

export class PromptSecretDetector {
  private tail = '';
  private hidden = false;

  output(text: string): void {
    this.tail = (this.tail + text).slice(-200);
    if (PROMPT.test(this.tail)) this.hidden = true;
  }

  /** Whether this input chunk is to be hidden; Enter ends a hidden line. */
  input(chunk: Buffer): boolean {
    const hide = this.hidden;
    if (hide && (chunk.includes(0x0d) || chunk.includes(0x0a) || chunk.includes(0x03))) {
      this.hidden = false;
      this.tail = '';
    }
    return hide;
  }
}
