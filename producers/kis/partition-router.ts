import type { Message, PartitionMetadata } from 'kafkajs';
import { cachedDefaultPartitioner } from '../../lib/partitioner.js';

/**
 * Picks each message's partition up front with the project's partitioner (kafkajs's default,
 * Java-compatible murmur2, cached per key), so a symbol lands where every other producer of the
 * project puts it, and returns the output lane (producer thread) that owns that partition: one lane per partition keeps each
 * partition's records in order while several lanes send side by side.
 */
export class PartitionRouter {
  private readonly partitioner = cachedDefaultPartitioner();
  private readonly metadata = new Map<string, PartitionMetadata[]>();

  constructor(partitionCounts: ReadonlyMap<string, number>, private readonly lanes: number) {
    for (const [topic, n] of partitionCounts) {
      this.metadata.set(topic, Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] })));
    }
  }

  /** Sets `message.partition` and returns the lane of that partition. */
  route(topic: string, message: Message): number {
    const partitionMetadata = this.metadata.get(topic);
    if (!partitionMetadata) throw new Error(`no partition count known for ${topic}`);
    const partition = this.partitioner({ topic, partitionMetadata, message });
    message.partition = partition;
    return partition % this.lanes;
  }
}
