// safetensors by hand from the spec (https://github.com/huggingface/safetensors): u64 LE header size, JSON
// header, raw little-endian data with offsets counted from the end of the header. Tests build odd files
// with these, independently of the project's readers and writers.

export type SafetensorsHeader = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;

export function handMadeSafetensors(header: Record<string, unknown>, ...bodies: Uint8Array[]): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, ...bodies]);
}

/** The header and the data section of a safetensors file. */
export function splitSafetensors(bytes: Buffer): { header: SafetensorsHeader; data: Buffer } {
  const length = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as SafetensorsHeader, data: bytes.subarray(8 + length) };
}
