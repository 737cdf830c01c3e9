// The least any service in front of A1111 must do for an upscale, as a reference for bench/service.ts:
// parse the JSON body, decode the image's base64, send A1111 an img2img body with it base64-encoded again,
// parse A1111's JSON reply, decode its image and send those bytes back. Nothing is checked, queued or
// logged. Run as its own process: `tsx bench/minimal-proxy.ts <A1111 url>`; it prints its URL.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';

const a1111 = process.argv[2]!;
const server = createServer((incoming, outgoing) => {
  const chunks: Buffer[] = [];
  incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
  incoming.on('end', () => {
    void (async () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { image: string; steps: number; seed: number };
      const image = Buffer.from(body.image, 'base64');
      const payload = JSON.stringify({
        init_images: [image.toString('base64')], resize_mode: 3, width: 1024, height: 1024, denoising_strength: 0.5, steps: body.steps, seed: body.seed,
        override_settings: { img2img_fix_steps: true }, alwayson_scripts: { 'Latent Upscale Companion': { args: [true, 'nearest-exact', 'simple'] } },
      });
      const reply = await request(`${a1111}/sdapi/v1/img2img`, { method: 'POST', body: payload, headers: { 'content-type': 'application/json' } });
      const answer = (await reply.body.json()) as { images: string[] };
      outgoing.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.from(answer.images[0]!, 'base64'));
    })();
  });
});
server.listen(0, '127.0.0.1', () => console.log(`minimal proxy listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
