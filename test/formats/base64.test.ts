import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Base64Decoder, base64Of, decodedWhole, rememberBase64 } from '../../src/formats/base64.js';

// The decoder must give what Buffer.from(text, 'base64') gives for any way the text is cut, and refuse
// (undefined) any text that is not all base64, which Buffer.from would decode in part.
function decode(text: string, piece: number, expectedChars?: number): Buffer | undefined {
  const bytes = Buffer.from(text, 'latin1');
  const decoder = new Base64Decoder(expectedChars);
  for (let at = 0; at < bytes.length; at += piece) decoder.write(bytes.subarray(at, at + piece));
  return decoder.end();
}

t.test('every length and padding, cut every way, with and without a size given', async (t) => {
  for (let length = 1; length <= 9; length++) {
    const bytes = randomBytes(length);
    for (const text of [bytes.toString('base64'), bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url')]) {
      for (const piece of [1, 2, 3, 5, 64]) {
        t.same(decode(text, piece, text.length)?.toString('hex'), bytes.toString('hex'), `${text} in ${piece}s`);
        t.same(decode(text, piece)?.toString('hex'), bytes.toString('hex'), `${text} in ${piece}s, size unknown`);
      }
    }
  }
});

t.test('a text of megabytes whose size is not known grows its buffer', async (t) => {
  const bytes = randomBytes(1_500_001);
  t.ok(decode(bytes.toString('base64'), 65_531)?.equals(bytes));
});

t.test('a text that is not all base64 is refused, wherever the pieces are cut', async (t) => {
  const text = randomBytes(3000).toString('base64');
  for (const odd of [`${text.slice(0, 100)}\n${text.slice(100)}`, `${text.slice(0, 101)}*${text.slice(101)}`, `${text.slice(0, 100)}==${text.slice(100)}`, `${text}A`, `${text}===`, '====']) {
    for (const piece of [1, 7, 4096]) t.equal(decode(odd, piece), undefined, `${JSON.stringify(odd.slice(96, 106))}… in ${piece}s`);
  }
});

t.test('base64Of sends a remembered text on only when any decoder reads it as these bytes', async (t) => {
  const bytes = randomBytes(3001);
  const standard = bytes.toString('base64');
  const cases: [string, string, boolean][] = [
    ['standard and padded', standard, true],
    ['URL-safe', bytes.toString('base64url'), false],
    ['unpadded', standard.replace(/=+$/, ''), false],
    ['line-wrapped', standard.replace(/.{76}/g, '$&\n'), false],
  ];
  for (const [label, text, sentOn] of cases) {
    const decoded = Buffer.from(text, 'base64');
    const ascii = Buffer.from(text, 'latin1');
    rememberBase64(decoded, ascii);
    const sent = base64Of(decoded);
    t.equal(Buffer.from(sent).toString('latin1'), standard, `${label}: the standard encoding goes out`);
    t.equal(sent === ascii, sentOn, `${label}: ${sentOn ? 'the caller\'s own bytes' : 'a new encoding'}`);
  }
});

t.test('decodedWhole: a text is whole when Buffer.from read all of it as base64', async (t) => {
  const cases: [string, boolean][] = [
    ['aGVsbG8gd29ybGQh', true], ['aGVsbG8=', true], ['aGVsbG8', true], ['aGVsbA==', true], ['aGVsbA', true],
    // Node reads U+0141 by its low byte, 0x41 ('A'): the length would match.
    ['aGVsŁG8gd29ybGQh', false], ['aGVsbG8gd29ybGQ\u00e9', false],
    ['aGVs bG8=', false], ['aGVsbG8g\nd29y', false], ['aGVs*G8=', false], ['aGV=bG8=', false], ['QUJD=', false], ['QUJDR', false], ['', false],
  ];
  for (const [text, whole] of cases) t.equal(decodedWhole(text, Buffer.from(text, 'base64')), whole, JSON.stringify(text));
});

t.test('a size hint far past the text (a content-length that lies) is not allocated up front', async (t) => {
  const bytes = randomBytes(1000);
  t.ok(decode(bytes.toString('base64'), 100, 8e9)?.equals(bytes), 'decodes, where a 6 GB buffer would have thrown');
});
