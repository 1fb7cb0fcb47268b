/**
 * Worker thread that owns an idempotent Kafka producer and a KafkaOutput of its own: the main thread
 * hands over each frame's messages as soon as it has read them, and this thread batches and sends
 * them (one request in flight, batch size following the load) while the main thread goes on reading,
 * parsing and Avro-encoding. kafkajs builds every record in JavaScript, a CPU cost of the same order
 * as the parsing, so on a second core the two overlap instead of taking turns.
 */
import { Registry } from 'prom-client';
import { parentPort, workerData } from 'node:worker_threads';
import { createKafka, createProducer } from '../../lib/kafka.js';
import { createLogger } from '../../lib/logger.js';
import { createKisMetrics } from './metrics.js';
import { KafkaOutput, type KafkaOutputOptions } from './output.js';
import { unpackBatch, type PackedBatch } from './packed-batch.js';

export interface KafkaWorkerData {
  brokers: string[];
  clientId: string;
  service: string;
  output: Pick<KafkaOutputOptions, 'maxBatchBytes' | 'maxBatchMessages' | 'lingerMs' | 'retryMaxMs'>;
}

/** `send`: one hand-over of the main thread's output; answered in order by `sent` counts. */
export type ToWorker = { type: 'send'; batch: PackedBatch } | { type: 'close' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'sent'; count: number }
  | { type: 'failed'; error: { name: string; message: string; retriable: boolean } }
  | { type: 'closed' }
  | { type: 'fatal'; error: { name: string; message: string } };

const port = parentPort;
if (!port) throw new Error('kafka-worker runs as a worker thread');
const data = workerData as KafkaWorkerData;
const logger = createLogger(data.service).child({ component: 'kafka-worker' });
const post = (m: FromWorker) => port.postMessage(m);

const kafka = createKafka({ brokers: data.brokers, clientId: data.clientId, logger });
const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
// The main thread's metrics and back-pressure count what it handed over; these stay private.
const output = new KafkaOutput([producer], { ...data.output, highWater: Number.MAX_SAFE_INTEGER }, createKisMetrics(new Registry()), logger, {
  onPressure: () => undefined,
  onFatal: (err) => {
    const e = err as Error & { retriable?: boolean };
    post({ type: 'failed', error: { name: e.name, message: e.message, retriable: e.retriable === true } });
  },
  // Each hand-over is one "frame" here: settled frames are the hand-overs Kafka acknowledged.
  onFramesSettled: (count) => post({ type: 'sent', count }),
});

port.on('message', (m: ToWorker) => {
  if (m.type === 'close') {
    output.flush().then(() => producer.disconnect()).finally(() => post({ type: 'closed' }));
    return;
  }
  for (const { topic, messages } of unpackBatch(m.batch)) for (const message of messages) output.push(topic, message);
  output.frameDone(Date.now());
});

producer.connect().then(
  () => post({ type: 'ready' }),
  (err: Error) => post({ type: 'fatal', error: { name: err.name, message: err.message } }),
);
