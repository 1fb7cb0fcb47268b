import type { ProducerBatch, RecordMetadata } from 'kafkajs';
import { Worker } from 'node:worker_threads';
import { AppError } from '../../lib/errors.js';
import type { FromWorker, KafkaWorkerData, ToWorker } from './kafka-worker.js';
import { packBatch } from './packed-batch.js';

/**
 * The main-thread side of kafka-worker.ts: `sendBatch` packs the request (values into one transferred
 * buffer) and hands it over at once, behind the ones still out; the worker batches and sends them,
 * and the promises settle in order as Kafka acknowledges them (`pipelined`, for KafkaOutput).
 */
export class WorkerProducer {
  readonly pipelined = true;
  private readonly pending: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
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
    const { batch, transfer } = packBatch(request.topicMessages ?? []);
    return new Promise<RecordMetadata[]>((resolve, reject) => {
      this.pending.push({ resolve: () => resolve([]), reject });
      this.worker.postMessage({ type: 'send', batch } satisfies ToWorker, transfer);
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
      for (const p of this.pending.splice(0, m.count)) p.resolve();
    } else if (m.type === 'failed') {
      this.die(new AppError('KAFKA_UNAVAILABLE', `produce failed: ${m.error.name}: ${m.error.message}`, { retryable: m.error.retriable }));
    }
  }

  private die(err: Error): void {
    this.dead = err;
    for (const p of this.pending.splice(0)) p.reject(err);
  }
}
