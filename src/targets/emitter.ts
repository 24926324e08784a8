import type { Disposable } from './target.js';

/** A typed single-event emitter whose `on` returns a Disposable. */
export class Emitter<T> {
  private listeners = new Set<(value: T) => void>();

  on(listener: (value: T) => void): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  emit(value: T): void {
    for (const l of this.listeners) l(value);
  }
}
