// Helpers shared by the Node drivers: argument parsing, PCM16 test audio, bounded waits, output.
// Each driver prints exactly one JSON line (its result) on stdout and exits 0, or prints the
// error on stderr and exits 1. The pytest side asserts on the JSON.

/** The proxy's `host:port` from argv[2] (e.g. `127.0.0.1:8080`). */
export function proxyAddress() {
  const address = process.argv[2];
  if (!address) throw new Error('usage: node DRIVER.mjs HOST:PORT');
  const [host, port] = address.split(':');
  return { host, port: Number(port), address };
}

/** `ms` milliseconds of a 440 Hz PCM16 24 kHz mono tone (loud enough for the emulator's VAD). */
export function pcm16Tone(ms, offsetMs = 0) {
  const rate = 24000;
  const n = Math.round((rate * ms) / 1000);
  const start = Math.round((rate * offsetMs) / 1000);
  const buf = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    buf.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * (start + i)) / rate)), i * 2);
  }
  return buf;
}

/** Collects events from `on(listener)` until `predicate(event)` holds; rejects after `ms`. */
export function collectUntil(subscribe, predicate, ms = 10000, label = 'event') {
  return new Promise((resolve, reject) => {
    const events = [];
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${label}; saw ${events.map((e) => e.type)}`)),
      ms,
    );
    const unsubscribe = subscribe((event) => {
      events.push(event);
      if (predicate(event)) {
        clearTimeout(timer);
        unsubscribe();
        resolve(events);
      }
    });
  });
}

/** Runs `main()`, prints its result as one JSON line, exits 0; on error prints it and exits 1. */
export function run(main, ms = 30000) {
  const guard = setTimeout(() => {
    console.error(`driver timed out after ${ms} ms`);
    process.exit(1);
  }, ms);
  main().then(
    (result) => {
      clearTimeout(guard);
      process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
    },
    (error) => {
      console.error(error?.stack ?? String(error));
      process.exit(1);
    },
  );
}

/** A function tool definition the emulator calls when the user text names it. */
export const WEATHER_TOOL = {
  type: 'function',
  name: 'get_weather',
  description: 'Weather for a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
  },
};
