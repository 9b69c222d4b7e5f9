import { randomUUID } from 'node:crypto';

/** A prompt name no other test uses, so tests share one server without interfering. */
export function uniqueName(label: string): string {
  return `it.${label}.${randomUUID().slice(0, 8)}`;
}
