import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { FakeKisServer } from '../../../fakes/kis/server.js';
import { waitFor } from '../../../helpers/wait.js';

const ACCOUNT = { appKey: 'PSfakeTestKey', appSecret: 'fake-test-secret' };

async function approval(fake: FakeKisServer, secret = ACCOUNT.appSecret): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${fake.restUrl}/oauth2/Approval`, { method: 'POST', body: JSON.stringify({ grant_type: 'client_credentials', appkey: ACCOUNT.appKey, secretkey: secret }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A bare client, to check the fake against the reference without the producer in between. */
async function client(fake: FakeKisServer, path = '') {
  const ws = new WebSocket(`${fake.wsUrl}${path}`);
  const frames: string[] = [];
  ws.on('message', (d: Buffer) => frames.push(d.toString('utf8')));
  await new Promise((r) => ws.once('open', r));
  return { ws, frames };
}

const subscribe = (key: string, trId: string, trKey: string, trType = '1') =>
  JSON.stringify({ header: { approval_key: key, custtype: 'P', tr_type: trType, 'content-type': 'utf-8' }, body: { input: { tr_id: trId, tr_key: trKey } } });

test('the fake answers exactly as the reference shows: approval keys, acks with a 16-character iv and 32-character key, error codes', async () => {
  const fake = await FakeKisServer.start({ accounts: [ACCOUNT], marketRunning: false, maxRegistrations: 2, pingIntervalMs: 60_000 });
  try {
    assert.equal((await approval(fake, 'wrong')).status, 403);
    const { status, body } = await approval(fake);
    assert.equal(status, 200);
    const key = body['approval_key'] as string;
    const { ws, frames } = await client(fake, '/tryitout/H0STCNT0');
    const symbol = fake.listings[0]?.symbol as string;
    ws.send(subscribe('not-issued', 'H0STCNT0', symbol));
    ws.send(subscribe(key, 'H0STCNT0', symbol));
    ws.send(subscribe(key, 'H0STCNT0', symbol));
    ws.send(subscribe(key, 'H0STASP0', symbol));
    ws.send(subscribe(key, 'H0STCNT0', fake.listings[1]?.symbol as string));
    ws.send(subscribe(key, 'H0STASP0', symbol, '2'));
    ws.send(subscribe(key, 'H0STASP0', symbol, '2'));
    await waitFor('7 answers', () => (frames.length === 7 ? true : undefined), { timeoutMs: 5_000, intervalMs: 10 });
    const answers = frames.map((f) => JSON.parse(f) as { header: Record<string, string>; body: { rt_cd: string; msg_cd: string; msg1: string; output?: { iv: string; key: string } } });
    assert.deepEqual(answers.map((a) => [a.body.msg_cd, a.body.rt_cd, a.body.msg1]), [
      ['OPSP0011', '1', 'invalid approval : NOT FOUND'],
      ['OPSP0000', '0', 'SUBSCRIBE SUCCESS'],
      ['OPSP0002', '1', 'ALREADY IN SUBSCRIBE'],
      ['OPSP0000', '0', 'SUBSCRIBE SUCCESS'],
      ['OPSP0008', '1', 'MAX SUBSCRIBE OVER'],
      ['OPSP0001', '0', 'UNSUBSCRIBE SUCCESS'],
      ['OPSP0003', '1', 'UNSUBSCRIBE ERROR(not found!)'],
    ]);
    const ack = answers[1] as (typeof answers)[number];
    assert.deepEqual(ack.header, { tr_id: 'H0STCNT0', tr_key: symbol, encrypt: 'N' });
    assert.match(ack.body.output?.iv ?? '', /^[0-9a-f]{16}$/);
    assert.match(ack.body.output?.key ?? '', /^[a-z]{32}$/);

    // One session per app key: a second connection with the same key is refused.
    const second = await client(fake);
    second.ws.send(subscribe(key, 'H0STCNT0', fake.listings[2]?.symbol as string));
    await waitFor('OPSP8996', () => (second.frames.length === 1 ? true : undefined), { timeoutMs: 5_000, intervalMs: 10 });
    assert.deepEqual(JSON.parse(second.frames[0] as string).body, { rt_cd: '9', msg_cd: 'OPSP8996', msg1: 'ALREADY IN USE appkey' });
    ws.terminate();
    second.ws.terminate();
  } finally {
    await fake.close();
  }
});

test('the fake accepts a pong control frame or the text echo as the PINGPONG reply, and closes a session that gives neither', async () => {
  const fake = await FakeKisServer.start({ accounts: [ACCOUNT], marketRunning: false, pingIntervalMs: 50, pongTimeoutMs: 300 });
  try {
    const byPong = await client(fake);
    const byEcho = await client(fake);
    const silent = await client(fake);
    byPong.ws.on('message', (d: Buffer) => {
      if (d.toString().includes('PINGPONG')) byPong.ws.pong(d);
    });
    byEcho.ws.on('message', (d: Buffer) => {
      if (d.toString().includes('PINGPONG')) byEcho.ws.send(d.toString());
    });
    const closed = new Promise<number>((r) => silent.ws.once('close', (code) => r(code)));
    await closed;
    await new Promise((r) => setTimeout(r, 400));
    const [p, e, s] = fake.connections();
    assert.equal(p?.open, true, 'pong frames keep the session');
    assert.equal(e?.open, true, 'text echoes keep the session');
    assert.equal(s?.open, false);
    assert.equal(s?.closeReason, 'PINGPONG not answered');
    assert.ok((p?.pongsReceived ?? 0) >= 3 && (e?.pongsReceived ?? 0) >= 3);
    const ping = JSON.parse(byEcho.frames.find((f) => f.includes('PINGPONG')) as string);
    assert.match(ping.header.datetime, /^\d{14}$/);
    byPong.ws.terminate();
    byEcho.ws.terminate();
  } finally {
    await fake.close();
  }
});
