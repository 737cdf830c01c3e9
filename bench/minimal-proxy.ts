// Reference proxies for bench/service.ts: what a process between the client and A1111 costs before it
// does any of the service's own work. Run as its own process, `tsx bench/minimal-proxy.ts MODE <A1111 url>`;
// it prints its URL. MODE:
// - pipe: the hop alone. The client's img2img body goes to A1111 untouched and A1111's JSON comes back
//   untouched, both streamed; nothing is parsed.
// - stream: the least an upscale proxy must do. It parses the JSON body, decodes the image's base64, sends
//   A1111 an img2img body with it base64-encoded again, and sends the client the image's bytes as A1111's
//   reply decodes, before the reply has ended (so it could not answer with an error once it began).
// - whole: the same, but it answers once A1111's whole reply has come, as a service that checks the image
//   before it answers must.
// Nothing is checked, queued or logged.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';

const [mode, a1111] = process.argv.slice(2) as [string, string];
const img2img = `${a1111}/sdapi/v1/img2img`;

type Handler = (incoming: IncomingMessage, outgoing: ServerResponse) => Promise<void>;

async function bodyOf(incoming: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function askA1111(incoming: IncomingMessage): Promise<AsyncIterable<Buffer>> {
  const body = JSON.parse((await bodyOf(incoming)).toString('utf8')) as { image: string; steps: number; seed: number };
  const image = Buffer.from(body.image, 'base64');
  const payload = JSON.stringify({
    init_images: [image.toString('base64')], resize_mode: 3, width: 1024, height: 1024, denoising_strength: 0.5, steps: body.steps, seed: body.seed,
    override_settings: { img2img_fix_steps: true }, alwayson_scripts: { 'Latent Upscale Companion': { args: [true, 'nearest-exact', 'simple'] } },
  });
  const reply = await request(img2img, { method: 'POST', body: payload, headers: { 'content-type': 'application/json' } });
  // A failing A1111 must not pass for a fast one in the bench.
  if (reply.statusCode !== 200) throw new Error(`A1111 answered ${reply.statusCode}: ${await reply.body.text()}`);
  return reply.body as AsyncIterable<Buffer>;
}

/** The first image's bytes of an img2img reply as it arrives, a piece a chunk (the reply's images come first). */
async function* imageOf(reply: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let head = '';
  let carry = '';
  let inImage = false;
  for await (const chunk of reply) {
    let text = chunk.toString('latin1');
    if (!inImage) {
      head += text;
      const opening = /"images":\s*\["/.exec(head);
      if (opening === null) continue;
      text = head.slice(opening.index + opening[0].length);
      inImage = true;
    }
    const quote = text.indexOf('"');
    const base64 = carry + (quote < 0 ? text : text.slice(0, quote));
    const whole = quote < 0 ? base64.length - (base64.length % 4) : base64.length;
    if (whole > 0) yield Buffer.from(base64.slice(0, whole), 'base64');
    carry = base64.slice(whole);
    if (quote >= 0) return;
  }
}

const handlers: Record<string, Handler> = {
  async pipe(incoming, outgoing) {
    const reply = await request(img2img, { method: 'POST', body: incoming, headers: { 'content-type': 'application/json' } });
    outgoing.writeHead(reply.statusCode, { 'content-type': 'application/json' });
    await pipeline(reply.body, outgoing);
  },
  async stream(incoming, outgoing) {
    const reply = await askA1111(incoming);
    outgoing.writeHead(200, { 'content-type': 'image/png' });
    await pipeline(imageOf(reply), outgoing);
  },
  async whole(incoming, outgoing) {
    const pieces: Buffer[] = [];
    for await (const piece of imageOf(await askA1111(incoming))) pieces.push(piece);
    outgoing.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.concat(pieces));
  },
};

const handle = handlers[mode];
if (handle === undefined || a1111 === undefined) throw new Error(`usage: minimal-proxy.ts ${Object.keys(handlers).join('|')} <A1111 url>`);
const server = createServer((incoming, outgoing) => {
  handle(incoming, outgoing).catch((error: Error) => {
    if (outgoing.headersSent) outgoing.destroy(error);
    else outgoing.writeHead(502, { 'content-type': 'text/plain' }).end(error.message);
  });
});
server.listen(0, '127.0.0.1', () => console.log(`${mode} proxy listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
