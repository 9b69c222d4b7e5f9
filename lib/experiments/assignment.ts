/**
 * Which arm of an experiment a request is in: a stable hash of (experiment id, assignment key
 * value) into 10,000 buckets, the variants taking their weights from the first buckets and
 * control the rest. The same user (or session) lands in the same arm for as long as the
 * experiment runs; two experiments split independently (the id is hashed in); a request without
 * a key value, or an experiment keyed by request, is split per request.
 *
 * The hash is MurmurHash3 (x86, 32 bits) over the UTF-8 bytes: fast (no allocation beyond the
 * key's bytes), well mixed, and the same in any language that implements it. Seed 0.
 */
import { ALL_TRAFFIC_BP, type ExperimentDefinition, isLive } from './definition';

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** MurmurHash3 x86 32-bit of `bytes` (its first `length`), as an unsigned integer. */
export function murmur3(bytes: Uint8Array, seed = 0, length = bytes.length): number {
  let h = seed >>> 0;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k =
      (bytes[i] as number) |
      ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) |
      ((bytes[i + 3] as number) << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = length & 3;
  if (tail > 0) {
    // The tail's bytes, highest first, as one last block.
    let k = 0;
    if (tail === 3) k ^= (bytes[blocks + 2] as number) << 16;
    if (tail >= 2) k ^= (bytes[blocks + 1] as number) << 8;
    k ^= bytes[blocks] as number;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const encoder = new TextEncoder();
/** Reused for every key (no allocation per request); a longer key gets bytes of its own. */
const scratch = new Uint8Array(1_024);

/** The bucket (0..9999) of a key value in an experiment. */
export function bucketOf(experimentId: string, keyValue: string): number {
  const text = `${experimentId}\u0000${keyValue}`;
  // UTF-8 takes at most 3 bytes per UTF-16 unit: the scratch holds any text up to a third of it.
  if (text.length * 3 <= scratch.length) {
    const { written } = encoder.encodeInto(text, scratch);
    return murmur3(scratch, 0, written) % ALL_TRAFFIC_BP;
  }
  return murmur3(encoder.encode(text)) % ALL_TRAFFIC_BP;
}

export interface Assignment {
  /** The alias this request loads: control's, or a variant's. */
  readonly alias: string;
  readonly arm: 'control' | 'variant';
  readonly bucket: number;
  /** How the bucket was chosen: from the key value, or at random (request, or no value supplied). */
  readonly by: 'key' | 'request';
}

export interface AssignmentInput {
  /** The request's user id and conversation (session) id, when it supplied them. */
  readonly userId?: string | undefined;
  readonly sessionId?: string | undefined;
  readonly now?: number;
  /** For per-request splits: a number in [0, 1). */
  readonly random?: () => number;
}

/** The arm of `definition` for this request; control when the experiment takes no traffic now. */
export function assign(definition: ExperimentDefinition, input: AssignmentInput = {}): Assignment {
  const value =
    definition.key === 'user' ? input.userId : definition.key === 'session' ? input.sessionId : undefined;
  const byKey = value !== undefined && value !== '';
  const bucket = byKey
    ? bucketOf(definition.id, value)
    : Math.floor((input.random ?? Math.random)() * ALL_TRAFFIC_BP) % ALL_TRAFFIC_BP;
  const by = byKey ? 'key' : 'request';
  if (!isLive(definition, input.now ?? Date.now()))
    return { alias: definition.control, arm: 'control', bucket, by };
  let edge = 0;
  for (const variant of definition.variants) {
    edge += variant.weight_bp;
    if (bucket < edge) return { alias: variant.alias, arm: 'variant', bucket, by };
  }
  return { alias: definition.control, arm: 'control', bucket, by };
}
