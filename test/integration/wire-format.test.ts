import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { readTopic } from '../helpers/kafka.js';
import { simulate, sliceEnv } from '../helpers/pipeline.js';
import { stackEnv } from '../helpers/stack.js';
import { yesterdayAt } from '../helpers/time.js';

// This test deliberately uses nothing of the project but its topic name: a plain kafkajs consumer and
// a plain @kafkajs/confluent-schema-registry client must be able to read what the producers write.
test('a tick produced by the simulator decodes with a plain Confluent Schema Registry client', async () => {
  const { common, ticksTopic } = sliceEnv('wire');
  const start = yesterdayAt('02:00');
  await simulate(common, { symbols: 5, ticksPerSecond: 50, seconds: 2, start: start.toISOString() });

  const messages = await readTopic(ticksTopic, { count: 100 });
  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  const first = messages[0];
  assert.ok(first?.value);
  assert.equal(first.value[0], 0, 'Confluent magic byte');
  const schemaId = first.value.readInt32BE(1);
  const subjectId = await registry.getLatestSchemaId(`${ticksTopic}-value`);
  assert.equal(schemaId, subjectId, 'the id in the message is the latest version of <topic>-value (TopicNameStrategy)');

  for (const m of messages) {
    const tick = (await registry.decode(m.value as Buffer)) as Record<string, unknown>;
    assert.equal(m.key?.toString(), tick['symbol'], 'key = symbol');
    assert.match(tick['symbol'] as string, /^\d{6}$/);
    for (const f of ['price', 'quantity', 'exchangeTime', 'ingestTime', 'sequence', 'cumulativeVolume']) {
      assert.ok(Number.isSafeInteger(tick[f]), `${f} is an integer`);
    }
    assert.equal(tick['source'], 'SIMULATOR');
    assert.ok(['BUY', 'SELL', 'AUCTION', 'UNKNOWN'].includes(tick['side'] as string));
    const t = tick['exchangeTime'] as number;
    assert.ok(t >= start.getTime() * 1000 && t < (start.getTime() + 2000) * 1000, 'exchange time in micros');
  }

  const subject = await fetch(`${stackEnv().SCHEMA_REGISTRY_URL}/subjects/${encodeURIComponent(`${ticksTopic}-value`)}/versions/latest`).then((r) => r.json()) as { schema: string };
  assert.equal(JSON.parse(subject.schema).name, 'Tick');
});

test('the registry refuses a schema change that is not BACKWARD compatible', async () => {
  const { ticksTopic, common } = sliceEnv('compat');
  await simulate(common, { symbols: 1, ticksPerSecond: 10, seconds: 1, start: yesterdayAt('02:00').toISOString() });
  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  const incompatible = { type: 'record', name: 'Tick', namespace: 'kr.kmarket.market', fields: [{ name: 'symbol', type: 'string' }, { name: 'venue', type: 'string' }] };
  await assert.rejects(
    registry.register({ type: 'AVRO' as never, schema: JSON.stringify(incompatible) }, { subject: `${ticksTopic}-value` }),
    (err: { status?: number }) => err.status === 409,
  );
});
