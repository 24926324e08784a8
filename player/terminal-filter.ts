/**
 * Output from a watched session goes to the reviewer's own terminal, and the watched user controls
 * it. This filter keeps what draws the screen and drops what would act on the reviewer's terminal
 * or machine: OSC strings (clipboard writes, hyperlinks, titles, colour queries), DCS/SOS/PM/APC
 * strings, and the CSI requests that make a terminal answer or move its window (DSR `n`, DA `c`,
 * window operations `t`, mode reports `$p`). Sequences split across frames are handled: the state
 * carries over.
 */
export class TerminalFilter {
  private state: 'text' | 'esc' | 'csi' | 'string' | 'string-esc' = 'text';
  private csi: number[] = [];

  filter(input: Buffer): Buffer {
    const out = Buffer.allocUnsafe(input.length + this.csi.length + 1);
    let n = 0;
    for (const b of input) {
      switch (this.state) {
        case 'text':
          if (b === 0x1b) this.state = 'esc';
          else out[n++] = b;
          break;
        case 'esc':
          if (b === 0x5b) {
            this.state = 'csi';
            this.csi = [0x1b, 0x5b];
          } else if (b === 0x5d || b === 0x50 || b === 0x58 || b === 0x5e || b === 0x5f) this.state = 'string'; // OSC DCS SOS PM APC
          else {
            out[n++] = 0x1b;
            out[n++] = b;
            this.state = b === 0x1b ? 'esc' : 'text';
            if (b === 0x1b) n--; // ESC ESC: the second one starts a new sequence
          }
          break;
        case 'csi':
          this.csi.push(b);
          if (b >= 0x40 && b <= 0x7e) {
            const asks = b === 0x6e || b === 0x63 || b === 0x74 || (b === 0x70 && this.csi.includes(0x24));
            if (!asks) for (const c of this.csi) out[n++] = c;
            this.csi = [];
            this.state = 'text';
          } else if (this.csi.length > 64) {
            this.csi = []; // not a sequence anyone sends: dropped
            this.state = 'text';
          }
          break;
        case 'string':
          if (b === 0x07) this.state = 'text';
          else if (b === 0x1b) this.state = 'string-esc';
          break;
        case 'string-esc':
          this.state = b === 0x5c ? 'text' : b === 0x1b ? 'string-esc' : 'string';
          break;
      }
    }
    return out.subarray(0, n);
  }
}
