// The JS OpenAI Agents SDK (`@openai/agents-realtime`) in Node: an `OpenAIRealtimeWebSocket`
// transport with the proxy's ws:// URL verbatim, and a `RealtimeSession` around a
// `RealtimeAgent` with one function tool. Sends a text turn (expects a spoken answer), then a
// turn naming the tool (the SDK runs it and sends the output back). Prints what it saw.
import { RealtimeAgent, RealtimeSession, OpenAIRealtimeWebSocket, tool } from '@openai/agents-realtime';
import { z } from 'zod';
import { proxyAddress, run } from './common.mjs';

const { address } = proxyAddress();
const url = `ws://${address}/v1/realtime?model=gpt-realtime`;

/** Resolves with the first `event` emitted by `emitter` that satisfies `predicate`. */
function next(emitter, event, predicate = () => true, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), ms);
    const listener = (...args) => {
      if (!predicate(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args);
    };
    emitter.on(event, listener);
  });
}

run(async () => {
  const toolCalls = [];
  const getWeather = tool({
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      toolCalls.push(city);
      return `sunny in ${city}`;
    },
  });
  const agent = new RealtimeAgent({ name: 'Assistant', instructions: 'Be brief.', tools: [getWeather] });
  const transport = new OpenAIRealtimeWebSocket({ url });
  const session = new RealtimeSession(agent, { transport, model: 'gpt-realtime' });

  const raw = [];
  const errors = [];
  let audioBytes = 0;
  session.on('transport_event', (event) => raw.push(event.type));
  session.on('error', (e) => errors.push(String(e.error?.message ?? JSON.stringify(e.error))));
  session.on('audio', (event) => {
    audioBytes += event.data.byteLength;
  });
  const toolEnd = [];
  session.on('agent_tool_end', (_ctx, _agent, t, result) => toolEnd.push({ name: t.name, result }));

  const created = next(transport, '*', (e) => e?.type === 'session.created');
  await session.connect({ apiKey: 'sk-local-agents-js', url });
  await created;

  // 1. A text message: the answer comes back as audio with a transcript.
  const firstDone = next(transport, '*', (e) => e?.type === 'response.done');
  session.sendMessage('Hello there');
  const [spoken] = await firstDone;
  const audioAfterText = audioBytes;
  const history = session.history
    .filter((item) => item.type === 'message' && item.role === 'assistant')
    .flatMap((item) => item.content.map((c) => c.transcript ?? c.text ?? ''));

  // 2. A message naming the tool: the SDK runs it, sends the output, and the model answers.
  const toolDone = next(session, 'agent_tool_end');
  const answered = next(
    transport,
    '*',
    (e) => e?.type === 'response.done' && e.response?.output?.some((o) => o.type === 'message'),
  );
  session.sendMessage('What is the weather? get_weather');
  await toolDone;
  const [answer] = await answered;
  session.close();
  return {
    connected_url: url,
    first_status: spoken.response?.status,
    audio_bytes_after_text: audioAfterText,
    assistant_transcripts: history,
    tool_calls: toolCalls,
    tool_end: toolEnd,
    answer_transcript: answer.response.output
      .flatMap((o) => o.content ?? [])
      .map((c) => c.transcript ?? c.text ?? '')
      .join(''),
    raw_types: [...new Set(raw)],
    errors,
  };
});
