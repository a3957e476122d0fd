// The official openai Node SDK's `LiveWS` (OpenAI Live, GPT-Live), pointed at the proxy with
// only its baseURL changed (LiveWS keeps ws: for an http: base). One spoken turn, then
// session.close; prints every server event it received (the pytest side validates each one
// against the openai Python SDK's Live types) and the close code.
import OpenAI from 'openai';
import { LiveWS } from 'openai/resources/live/ws';
import { collectUntil, pcm16Tone, proxyAddress, run } from './common.mjs';

const { address } = proxyAddress();
const REPLY = process.argv[3] ?? 'You said: Hello from the emulator.';

async function main() {
  const client = new OpenAI({ apiKey: 'sk-local-node', baseURL: `http://${address}/v1` });
  const live = new LiveWS(client);
  const events = [];
  const errors = [];
  live.on('event', (event) => events.push(event));
  live.on('error', (err) => errors.push(err.message));
  const closed = new Promise((resolve) => live.on('close', (code) => resolve(code)));
  const subscribe = (listener) => {
    live.on('event', listener);
    return () => live.off('event', listener);
  };
  live.send({
    type: 'session.start',
    event_id: 'node-start',
    session: { model: 'gpt-live-1.1', audio: { output: { voice: 'marin' } } },
  });
  await collectUntil(subscribe, (e) => e.type === 'session.started', 10000, 'session.started');
  const silence = Buffer.alloc(4800).toString('base64');
  for (let i = 0; i < 6; i++) {
    live.send({ type: 'session.input_audio.append', audio: pcm16Tone(100, i * 100).toString('base64') });
  }
  for (let i = 0; i < 8; i++) live.send({ type: 'session.input_audio.append', audio: silence });
  let transcript = '';
  await collectUntil(
    subscribe,
    (e) => {
      if (e.type === 'session.output_transcript.delta') transcript += e.delta;
      return transcript === REPLY;
    },
    15000,
    'the reply transcript',
  );
  live.send({ type: 'session.close' });
  await collectUntil(subscribe, (e) => e.type === 'session.closed', 10000, 'session.closed');
  const code = await closed;
  return { url: String(live.url), events, errors, code };
}

run(main);
