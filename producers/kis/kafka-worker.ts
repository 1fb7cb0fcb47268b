/**
 * Worker thread that owns the producer's idempotent Kafka producer. kafkajs builds every record in
 * JavaScript (≈15-20 µs a message here), as much as reading, parsing and Avro-encoding a trade; in a
 * thread of its own it runs beside the WebSocket reading instead of taking turns with it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createKafka, createProducer } from '../../lib/kafka.js';
import { createLogger } from '../../lib/logger.js';
import { unpackBatch, type PackedBatch } from './packed-batch.js';

export interface KafkaWorkerData {
  brokers: string[];
  clientId: string;
  service: string;
}

export type ToWorker = { type: 'send'; id: number; batch: PackedBatch } | { type: 'close' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'sent'; id: number }
  | { type: 'failed'; id: number; error: { name: string; message: string; retriable: boolean } }
  | { type: 'closed' }
  | { type: 'fatal'; error: { name: string; message: string } };

const port = parentPort;
if (!port) throw new Error('kafka-worker runs as a worker thread');
const data = workerData as KafkaWorkerData;
const logger = createLogger(data.service).child({ component: 'kafka-worker' });
const post = (m: FromWorker) => port.postMessage(m);

const kafka = createKafka({ brokers: data.brokers, clientId: data.clientId, logger });
const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });

port.on('message', (m: ToWorker) => {
  if (m.type === 'close') {
    producer.disconnect().finally(() => post({ type: 'closed' }));
    return;
  }
  producer.sendBatch({ acks: -1, topicMessages: unpackBatch(m.batch) }).then(
    () => post({ type: 'sent', id: m.id }),
    (err: Error & { retriable?: boolean }) => post({ type: 'failed', id: m.id, error: { name: err.name, message: err.message, retriable: err.retriable === true } }),
  );
});

producer.connect().then(
  () => post({ type: 'ready' }),
  (err: Error) => post({ type: 'fatal', error: { name: err.name, message: err.message } }),
);
