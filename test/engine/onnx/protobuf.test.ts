import t from 'tap';
import { ProtoWriter } from '../../../src/engine/onnx/protobuf.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

t.test('varints follow the protobuf encoding guide', async (t) => {
  t.equal(hex(new ProtoWriter().varint(1, 150).finish()), '089601', 'field 1 = 150 is 08 96 01 (the spec example)');
  t.equal(hex(new ProtoWriter().varint(2, 300).finish()), '10ac02');
  t.equal(hex(new ProtoWriter().varint(1, 0).finish()), '0800');
  t.equal(hex(new ProtoWriter().varint(1, -1).finish()), '08ffffffffffffffffff01', 'negative int64: ten bytes');
  t.equal(hex(new ProtoWriter().varint(16, 1).finish()), '800101', 'field 16 needs a two-byte tag');
});

t.test('strings, nested messages and floats', async (t) => {
  t.equal(hex(new ProtoWriter().string(2, 'testing').finish()), '120774657374696e67', 'the spec example');
  t.equal(hex(new ProtoWriter().message(3, new ProtoWriter().varint(1, 150)).finish()), '1a03089601', 'the spec example');
  t.equal(hex(new ProtoWriter().float(2, 1).finish()), '150000803f', 'fixed32 little-endian 1.0f');
});
