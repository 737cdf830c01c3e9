/** The first bytes of a file as hex ("89504e470d0a1a0a" for a PNG), for messages about what arrived. */
export function leadingHex(bytes: Uint8Array, count = 8): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(count, bytes.length)).toString('hex');
}

/**
 * The same bytes as a Buffer, without a copy. `Buffer.from(aUint8Array)` copies, and on Node 20 it does
 * so element by element: 15 ms for a 1.8 MB PNG, on the event loop.
 */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
