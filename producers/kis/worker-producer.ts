import type { ProducerBatch, RecordMetadata } from 'kafkajs';
import { Worker } from 'node:worker_threads';
import { AppError } from '../../lib/errors.js';
import type { FromWorker, KafkaWorkerData, ToWorker } from './kafka-worker.js';
import { packBatch } from './packed-batch.js';

/**
 * The main-thread side of kafka-worker.ts: `sendBatch` packs the request (values into one transferred
 * buffer), the worker's idempotent producer sends it, and the promise settles with the broker's answer.
 */
export class WorkerProducer {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private closed: Promise<void> | null = null;
  private dead: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('error', (err) => this.die(new AppError('KAFKA_UNAVAILABLE', `Kafka worker thread failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      if (!this.closed) this.die(new AppError('KAFKA_UNAVAILABLE', `Kafka worker thread exited with code ${code}`));
    });
  }

  static async start(data: KafkaWorkerData): Promise<WorkerProducer> {
    const worker = new Worker(new URL('./kafka-worker.js', import.meta.url), { workerData: data });
    const producer = new WorkerProducer(worker);
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === 'ready') resolve();
        if (m.type === 'fatal') reject(new AppError('KAFKA_UNAVAILABLE', `Kafka producer did not connect: ${m.error.message}`, { retryable: true }));
        if (m.type === 'ready' || m.type === 'fatal') worker.off('message', onMessage);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return producer;
  }

  sendBatch(request: ProducerBatch): Promise<RecordMetadata[]> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.closed) return Promise.reject(new AppError('SHUTDOWN', 'the Kafka worker is closed'));
    const id = this.nextId++;
    const { batch, transfer } = packBatch(request.topicMessages ?? []);
    return new Promise<RecordMetadata[]>((resolve, reject) => {
      this.pending.set(id, { resolve: () => resolve([]), reject });
      this.worker.postMessage({ type: 'send', id, batch } satisfies ToWorker, transfer);
    });
  }

  disconnect(): Promise<void> {
    if (this.closed) return this.closed;
    this.closed = new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 10_000);
      this.worker.on('message', (m: FromWorker) => {
        if (m.type !== 'closed') return;
        clearTimeout(timer);
        void this.worker.terminate().then(() => resolve());
      });
      this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    });
    return this.closed;
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'sent') {
      this.pending.get(m.id)?.resolve();
      this.pending.delete(m.id);
    } else if (m.type === 'failed') {
      this.pending.get(m.id)?.reject(new AppError('KAFKA_UNAVAILABLE', `produce failed: ${m.error.name}: ${m.error.message}`, { retryable: m.error.retriable }));
      this.pending.delete(m.id);
    }
  }

  private die(err: Error): void {
    this.dead = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
