import t from 'tap';
import { ClipTokenizer, byteVocabulary, bytesToUnicode } from '../../src/text/clip-tokenizer.js';
import { CLIP_BPE_PATH, readClipVocabulary } from '../../src/text/clip-vocabulary.js';
import { pythonWith, runPythonJson } from '../helpers/python.js';


t.test('bytes_to_unicode: printable bytes are themselves, the rest follow U+0100 in order', async (t) => {
  const table = bytesToUnicode();
  t.equal(table[0x21], '!');
  t.equal(table[0x61], 'a');
  t.equal(table[0x00], 'Ā');
  t.equal(table[0x20], 'Ġ', 'space is the 33rd unprintable byte: U+0100 + 32');
  t.equal(new Set(table).size, 256);
});

t.test('a byte vocabulary tokenizes anything, one token per byte', async (t) => {
  const tokenizer = new ClipTokenizer(byteVocabulary());
  const ids = tokenizer.encode('ab c');
  // Printable bytes come first in vocabulary order: 'a' (97) is 97 − 33 = 64, 'b</w>' is 256 + 65, 'c</w>' 256 + 66;
  // start and end follow the 512 byte tokens.
  t.same(ids.slice(0, 5), [512, 64, 256 + 65, 256 + 66, 513]);
  t.equal(ids.length, 77);
  t.ok(ids.slice(5).every((id) => id === 513));
});

t.test('a pad id: start, tokens and end as before, then the pad (OpenCLIP pads with "!", id 0)', async (t) => {
  const tokenizer = new ClipTokenizer(byteVocabulary());
  const ids = tokenizer.encode('ab c', { padId: 0 });
  t.same(ids.slice(0, 5), [512, 64, 256 + 65, 256 + 66, 513]);
  t.equal(ids.length, 77);
  t.ok(ids.slice(5).every((id) => id === 0));
  t.equal(tokenizer.tokenId('!'), 0);
  t.equal(tokenizer.tokenId('<pad>'), undefined);
  const full = tokenizer.encode('x'.repeat(200), { padId: 0 });
  t.same([full.length, full[0], full[76]], [77, 512, 513], 'a truncated prompt still ends with the end token, no pad');
});

const tokenizer = new ClipTokenizer(await readClipVocabulary());

t.test('"a photo of a cat" -> 49406 320 1125 539 320 2368 49407, padded with 49407 to 77', async (t) => {
  const ids = tokenizer.encode('a photo of a cat');
  t.same(ids.slice(0, 7), [49406, 320, 1125, 539, 320, 2368, 49407]);
  t.equal(ids.length, 77);
  t.ok(ids.slice(7).every((id) => id === 49407));
  t.equal(tokenizer.vocabularySize, 49408);
});

t.test('hand-derivable ids: single characters are 256 + their byte position, digits split one by one', async (t) => {
  // ','=byte 44 -> position 11 -> ',</w>' = 267; '1' -> 272; '2' -> 273.
  t.same(tokenizer.tokenize(','), [267]);
  t.same(tokenizer.tokenize('1 2'), [272, 273]);
  t.same(tokenizer.tokenize('12'), [272, 273], 'each digit is a word of its own');
  t.same(tokenizer.tokenize('A  Photo\tOF\na CAT'), tokenizer.tokenize('a photo of a cat'), 'case and whitespace do not matter');
});

t.test('over-long prompts keep the first 75 tokens and end with the end token', async (t) => {
  const ids = tokenizer.encode(Array.from({ length: 100 }, () => 'cat').join(' '));
  t.equal(ids.length, 77);
  t.equal(ids[0], 49406);
  t.ok(ids.slice(1, 76).every((id) => id === 2368));
  t.equal(ids[76], 49407);
});

const python = pythonWith(['regex']);
t.test('the same ids as a Python CLIP tokenizer (OpenAI algorithm) on punctuation, digits, unicode and long text', { skip: python.skip }, async (t) => {
  const prompts = [
    'masterpiece, best quality, 1girl, (smiling:1.2), blue-eyes!!!',
    "it's a dog's life; we'll see... 3.14159 and 2024-11-28",
    'café crème brûlée, naïve résumé, Ελληνικά, 日本語のテキスト, emoji 🐱🚀',
    '   lots   of\tspaces \n and <|endoftext|> inside   ',
    Array.from({ length: 60 }, (_, i) => `word${i}`).join(', '),
    '',
  ];
  const expected = runPythonJson<number[][]>(python.python!, 'clip_reference.py', { bpe: CLIP_BPE_PATH, prompts });
  prompts.forEach((prompt, i) => t.same(tokenizer.encode(prompt), expected[i], JSON.stringify(prompt).slice(0, 60)));
});
