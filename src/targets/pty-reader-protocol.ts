/** Messages between a session thread and the pty reader thread (pty-reader-worker.ts). */
export type ToReader =
  /** Read this descriptor (a dup of a pty master, now the reader's to close). */
  | { op: 'attach'; id: number; fd: number }
  /** The last batch has been passed on: send the next. */
  | { op: 'ack'; id: number }
  /** Read what is left, send it, close the descriptor. */
  | { op: 'detach'; id: number };

export type FromReader =
  /** The reader has the descriptor (and will close it). */
  | { op: 'attached'; id: number }
  | { op: 'data'; id: number; data: Uint8Array }
  /** Nothing more will come for this id (the pty's read side ended, or it was detached). */
  | { op: 'end'; id: number; error?: string }
  /**
   * The pty went quiet: the reader let go of it after sending everything it had read (the rest is
   * still in the kernel). Nothing more comes for this id; the session thread reads the pty again.
   */
  | { op: 'released'; id: number };
