// The official openai Node SDK's *beta* client (`openai/beta/realtime/ws`: sends
// `OpenAI-Beta: realtime=v1`), pointed at a plain-ws proxy with a createConnection override.
// Speaks the beta dialect only: flat session fields, beta event names. Drives a spoken turn and
// a tool-call turn; prints what it saw.
import net from 'node:net';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/beta/realtime/ws';
import { collectUntil, pcm16Tone, proxyAddress, run } from './common.mjs';

const { address } = proxyAddress();

const BETA_TOOL = {
  type: 'function',
  name: 'get_weather',
  description: 'Weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

function connect() {
  const client = new OpenAI({ apiKey: 'sk-local-node-beta', baseURL: `http://${address}/v1` });
  const rt = new OpenAIRealtimeWS(
    {
      model: 'gpt-4o-realtime-preview',
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
  const first = await collectUntil(subscribe, (e) => e.type === 'session.created');
  rt.send({
    type: 'session.update',
    session: {
      modalities: ['text', 'audio'],
      voice: 'marin',
      input_audio_format: 'pcm16',
      output_audio_format: 'pcm16',
      turn_detection: null,
    },
  });
  const updated = await collectUntil(subscribe, (e) => e.type === 'session.updated');
  for (let i = 0; i < 10; i++) {
    rt.send({ type: 'input_audio_buffer.append', audio: pcm16Tone(100, i * 100).toString('base64') });
  }
  rt.send({ type: 'input_audio_buffer.commit' });
  rt.send({ type: 'response.create' });
  const events = await collectUntil(subscribe, (e) => e.type === 'response.done');
  rt.close();
  const done = events.at(-1);
  return {
    first: first.map((e) => e.type),
    created_session: first.at(-1).session,
    updated_session: updated.at(-1).session,
    types: events.map((e) => e.type),
    audio_bytes: events
      .filter((e) => e.type === 'response.audio.delta')
      .reduce((n, e) => n + Buffer.from(e.delta, 'base64').length, 0),
    transcript: events
      .filter((e) => e.type === 'response.audio_transcript.delta')
      .map((e) => e.delta)
      .join(''),
    status: done.response.status,
    response: done.response,
    errors,
  };
}

async function toolTurn() {
  const { rt, errors, subscribe } = connect();
  await collectUntil(subscribe, (e) => e.type === 'session.created');
  rt.send({ type: 'session.update', session: { modalities: ['text'], tools: [BETA_TOOL] } });
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
    call_types: call.map((e) => e.type),
    name: argsDone?.name,
    arguments: argsDone?.arguments,
    answer_types: answer.map((e) => e.type),
    answer: answer
      .filter((e) => e.type === 'response.text.delta')
      .map((e) => e.delta)
      .join(''),
    errors,
  };
}

run(async () => ({ spoken: await spokenTurn(), tool: await toolTurn() }));
