/** The first bytes of a file as hex ("89504e470d0a1a0a" for a PNG), for messages about what arrived. */
export function leadingHex(bytes: Uint8Array, count = 8): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(count, bytes.length)).toString('hex');
}
