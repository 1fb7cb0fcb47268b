import { Counter, Gauge, Histogram, type Registry } from '../../lib/metrics.js';
import { KNOWN_MSG_CODES } from './control.js';
import { trSpec } from './trs.js';

/** Every series of the KIS producer; label sets are bounded (known TR ids, session index, reason). */
export interface KisMetrics {
  frames: Counter<'tr_id'>;
  records: Counter<'tr_id'>;
  parseErrors: Counter<'tr_id' | 'reason'>;
  produced: Counter<'topic'>;
  reconnects: Counter<'session'>;
  registrations: Gauge<'session'>;
  unplaced: Gauge;
  refused: Gauge<'session'>;
  connects: Counter<'session'>;
  sessionUp: Gauge<'session'>;
  control: Counter<'msg_cd'>;
  pingpongs: Counter<'session'>;
  produceLatency: Histogram;
  pending: Gauge;
  bufferBytes: Gauge;
  bufferFrames: Gauge;
  bufferOldestSeconds: Gauge;
  bufferLimitBytes: Gauge;
  bufferLimitAgeSeconds: Gauge;
  spoolBytes: Gauge;
  spoolLimitBytes: Gauge;
  spooling: Gauge;
  spooledFrames: Counter;
  replayedFrames: Counter;
  droppedMessages: Counter;
  tornRecords: Counter;
}

export function trLabel(trId: string): string {
  return trSpec(trId) ? trId : 'unknown';
}

export function msgLabel(msgCd: string): string {
  return KNOWN_MSG_CODES.has(msgCd) ? msgCd : 'other';
}

/** Reuses series already registered (tests create several producers on one registry). */
export function createKisMetrics(registry: Registry): KisMetrics {
  const get = <M>(name: string, make: () => M): M => (registry.getSingleMetric(name) as M | undefined) ?? make();
  const registers = [registry];
  return {
    frames: get('kis_frames_total', () => new Counter({ name: 'kis_frames_total', help: 'data frames received, per TR', labelNames: ['tr_id'], registers })),
    records: get('kis_records_total', () => new Counter({ name: 'kis_records_total', help: 'records parsed from data frames, per TR', labelNames: ['tr_id'], registers })),
    parseErrors: get('kis_parse_errors_total', () => new Counter({ name: 'kis_parse_errors_total', help: 'frames or records that could not be read (sent to the DLQ)', labelNames: ['tr_id', 'reason'], registers })),
    produced: get('kis_messages_produced_total', () => new Counter({ name: 'kis_messages_produced_total', help: 'messages acknowledged by Kafka, per topic', labelNames: ['topic'], registers })),
    reconnects: get('kis_reconnects_total', () => new Counter({ name: 'kis_reconnects_total', help: 'WebSocket reconnects, per session (app key index)', labelNames: ['session'], registers })),
    registrations: get('kis_registrations', () => new Gauge({ name: 'kis_registrations', help: 'registrations acknowledged by the server, per session', labelNames: ['session'], registers })),
    unplaced: get('kis_registrations_unplaced', () => new Gauge({ name: 'kis_registrations_unplaced', help: 'wanted registrations that fit in no session (add app keys)', registers })),
    refused: get('kis_registrations_refused', () => new Gauge({ name: 'kis_registrations_refused', help: 'registrations the server refused for good (bad tr_id/tr_key), per session', labelNames: ['session'], registers })),
    connects: get('kis_connects_total', () => new Counter({ name: 'kis_connects_total', help: 'WebSocket connects tried, per session (each takes from the connect budgets)', labelNames: ['session'], registers })),
    sessionUp: get('kis_session_up', () => new Gauge({ name: 'kis_session_up', help: '1 while the session is connected', labelNames: ['session'], registers })),
    control: get('kis_control_messages_total', () => new Counter({ name: 'kis_control_messages_total', help: 'server answers to (un)subscribe requests, per msg_cd', labelNames: ['msg_cd'], registers })),
    pingpongs: get('kis_pingpongs_total', () => new Counter({ name: 'kis_pingpongs_total', help: 'PINGPONG heartbeats answered', labelNames: ['session'], registers })),
    produceLatency: get('kis_produce_latency_seconds', () => new Histogram({ name: 'kis_produce_latency_seconds', help: 'from a frame arriving to its records acknowledged by Kafka', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers })),
    pending: get('kis_pending_messages', () => new Gauge({ name: 'kis_pending_messages', help: 'messages waiting to be sent to Kafka', registers })),
    bufferBytes: get('kis_buffer_bytes', () => new Gauge({ name: 'kis_buffer_bytes', help: 'bytes of frames handed to Kafka and not yet acknowledged (in memory)', registers })),
    bufferFrames: get('kis_buffer_frames', () => new Gauge({ name: 'kis_buffer_frames', help: 'frames handed to Kafka and not yet acknowledged (in memory)', registers })),
    bufferOldestSeconds: get('kis_buffer_oldest_seconds', () => new Gauge({ name: 'kis_buffer_oldest_seconds', help: 'how long the oldest unacknowledged frame has waited for Kafka', registers })),
    bufferLimitBytes: get('kis_buffer_limit_bytes', () => new Gauge({ name: 'kis_buffer_limit_bytes', help: 'KIS_BUFFER_MAX_BYTES: beyond this frames go to the spool', registers })),
    bufferLimitAgeSeconds: get('kis_buffer_limit_age_seconds', () => new Gauge({ name: 'kis_buffer_limit_age_seconds', help: 'KIS_BUFFER_MAX_AGE_MS in seconds: a frame unacknowledged this long starts spooling', registers })),
    spoolBytes: get('kis_spool_bytes', () => new Gauge({ name: 'kis_spool_bytes', help: 'bytes of the spool segments on disk', registers })),
    spoolLimitBytes: get('kis_spool_limit_bytes', () => new Gauge({ name: 'kis_spool_limit_bytes', help: 'KIS_SPOOL_MAX_BYTES: beyond this frames are dropped', registers })),
    spooling: get('kis_spooling', () => new Gauge({ name: 'kis_spooling', help: '1 while frames go to the spool instead of straight to Kafka', registers })),
    spooledFrames: get('kis_spooled_frames_total', () => new Counter({ name: 'kis_spooled_frames_total', help: 'frames appended to the spool', registers })),
    replayedFrames: get('kis_replayed_frames_total', () => new Counter({ name: 'kis_replayed_frames_total', help: 'frames read back from the spool and handed to Kafka', registers })),
    droppedMessages: get('kis_dropped_messages_total', () => new Counter({ name: 'kis_dropped_messages_total', help: 'messages dropped because the memory buffer and the spool were both full', registers })),
    tornRecords: get('kis_spool_torn_records_total', () => new Counter({ name: 'kis_spool_torn_records_total', help: 'spool records cut short or failing their checksum (a crash while writing), dropped', registers })),
  };
}
