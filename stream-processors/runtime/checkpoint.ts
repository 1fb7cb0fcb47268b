/**
 * What is committed with a partition's input offset (in the offset metadata, inside the transaction)
 * so a restart resumes exactly where the last commit left off.
 */
export interface Checkpoint {
  /** Offset to resume from: the next record, or the first one retained state still needs. */
  offset: number;
  streamTime: number;
  /** Next offset after the last processed record: records below it are not dead-lettered or routed late twice. */
  processedUpTo: number;
}

export function encodeCheckpointMetadata(c: Checkpoint): string {
  return JSON.stringify({ v: 1, st: Number.isFinite(c.streamTime) ? c.streamTime : null, hw: c.processedUpTo });
}

/** Parses what `encodeCheckpointMetadata` wrote; anything else means "no usable checkpoint". */
export function decodeCheckpointMetadata(offset: number, metadata: string | null | undefined): Checkpoint | null {
  if (offset < 0) return null;
  try {
    const m = JSON.parse(metadata ?? '') as { v?: number; st?: number | null; hw?: number };
    if (m.v !== 1 || typeof m.hw !== 'number') return null;
    return { offset, streamTime: m.st ?? Number.NEGATIVE_INFINITY, processedUpTo: m.hw };
  } catch {
    return null;
  }
}
