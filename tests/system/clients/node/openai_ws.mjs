// The official openai Node SDK's GA `OpenAIRealtimeWS`, pointed at the proxy exactly as the
// README says. The SDK always builds a wss:// URL: by default the driver hands it a plain TCP
// connection (createConnection override) to a ws:// proxy; with a second argument `tls` it is
// left entirely unchanged (baseURL https://HOST:PORT/v1; trust the proxy's certificate with
// NODE_EXTRA_CA_CERTS). Drives a spoken turn and a tool-call turn; prints what it saw.
import net from 'node:net';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { WEATHER_TOOL, collectUntil, pcm16Tone, proxyAddress, run } from './common.mjs';

const { address } = proxyAddress();
const tls = process.argv[3] === 'tls';

function connect() {
  const client = new OpenAI({
    apiKey: 'sk-local-node',
    baseURL: `${tls ? 'https' : 'http'}://${address}/v1`,
  });
  const rt = tls
    ? new OpenAIRealtimeWS({ model: 'gpt-realtime' }, client)
    : new OpenAIRealtimeWS(
        {
          model: 'gpt-realtime',
          options: { createConnection: (o) => net.connect(o.port, o.host) },
        },
        client,
      );
  const errors = [];
  rt.on('error', (err) => errors.push(err.message));
  const subscribe = (listener) => {
    rt.on('event', listener);
    return () => rt.off('event', listener);
  };
  return { rt, errors, subscribe };
}

async function spokenTurn() {
  const { rt, errors, subscribe } = connect();
  const first = await collectUntil(subscribe, (e) => e.type === 'session.created', 10000, 'session.created');
  rt.send({
    type: 'session.update',
    session: {
      type: 'realtime',
      audio: { input: { turn_detection: null }, output: { voice: 'marin' } },
    },
  });
  const updated = await collectUntil(subscribe, (e) => e.type === 'session.updated');
  for (let i = 0; i < 10; i++) {
    rt.send({ type: 'input_audio_buffer.append', audio: pcm16Tone(100, i * 100).toString('base64') });
  }
  rt.send({ type: 'input_audio_buffer.commit' });
  rt.send({ type: 'response.create' });
  const events = await collectUntil(subscribe, (e) => e.type === 'response.done');
  const audio = events.filter((e) => e.type === 'response.output_audio.delta');
  const done = events.at(-1);
  rt.close();
  return {
    url: String(rt.url),
    first: first.map((e) => e.type),
    voice: updated.at(-1).session?.audio?.output?.voice,
    types: events.map((e) => e.type),
    audio_bytes: audio.reduce((n, e) => n + Buffer.from(e.delta, 'base64').length, 0),
    transcript: events
      .filter((e) => e.type === 'response.output_audio_transcript.delta')
      .map((e) => e.delta)
      .join(''),
    status: done.response.status,
    total_tokens: done.response.usage?.total_tokens,
    errors,
  };
}

async function toolTurn() {
  const { rt, errors, subscribe } = connect();
  await collectUntil(subscribe, (e) => e.type === 'session.created');
  rt.send({
    type: 'session.update',
    session: { type: 'realtime', tools: [WEATHER_TOOL], output_modalities: ['text'] },
  });
  await collectUntil(subscribe, (e) => e.type === 'session.updated');
  rt.send({
    type: 'conversation.item.create',
    item: {
      type: 'message',
      role: 'user',
      content: [{ type: 'input_text', text: 'What is the weather? get_weather' }],
    },
  });
  rt.send({ type: 'response.create' });
  const call = await collectUntil(subscribe, (e) => e.type === 'response.done');
  const argsDone = call.find((e) => e.type === 'response.function_call_arguments.done');
  rt.send({
    type: 'conversation.item.create',
    item: { type: 'function_call_output', call_id: argsDone?.call_id, output: '{"forecast": "sunny"}' },
  });
  rt.send({ type: 'response.create' });
  const answer = await collectUntil(subscribe, (e) => e.type === 'response.done');
  rt.close();
  return {
    name: argsDone?.name,
    arguments: argsDone?.arguments,
    answer: answer
      .filter((e) => e.type === 'response.output_text.delta')
      .map((e) => e.delta)
      .join(''),
    errors,
  };
}

run(async () => ({ spoken: await spokenTurn(), tool: await toolTurn() }));
