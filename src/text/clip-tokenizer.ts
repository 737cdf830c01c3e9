import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';

// CLIP's byte-level BPE tokenizer as transformers' CLIPTokenizer runs it for Stable Diffusion 1.x
// (huggingface/transformers src/transformers/models/clip/tokenization_clip.py, after openai/CLIP
// clip/simple_tokenizer.py): NFC + whitespace collapse + lower case, CLIP's split regex, bytes mapped to
// printable characters, BPE by merge rank with "</w>" on each word's last symbol, then
// <|startoftext|> … <|endoftext|> truncated to 77 and padded with the tokenizer's pad token: CLIP-L's is
// <|endoftext|>, OpenCLIP's (SD 2.x, SDXL's second encoder) is "!" (tokenizer/special_tokens_map.json).

export const CONTEXT_LENGTH = 77;
const START = '<|startoftext|>';
const END = '<|endoftext|>';
const SPLIT = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/gu;

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards, in byte order. */
export function bytesToUnicode(): string[] {
  const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const table = new Array<string>(256);
  let next = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCharCode(printable(b) ? b : 256 + next++);
  return table;
}

/** The byte characters in vocabulary order (dict order of bytes_to_unicode: printable first), i.e. by code point. */
function byteTokens(): string[] {
  return bytesToUnicode().sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));
}

export interface ClipVocabulary {
  readonly vocab: ReadonlyMap<string, number>;
  /** Merge pairs "a b", highest priority first. */
  readonly merges: readonly string[];
}

export class ClipTokenizer {
  private readonly ranks: Map<string, number>;
  private readonly byteChars = bytesToUnicode();
  private readonly cache = new Map<string, number[]>();
  readonly startId: number;
  readonly endId: number;

  constructor(private readonly vocabulary: ClipVocabulary) {
    this.ranks = new Map(vocabulary.merges.map((pair, rank) => [pair, rank]));
    const id = (token: string): number => {
      const value = vocabulary.vocab.get(token);
      if (value === undefined) throw new UserError(`tokenizer vocabulary has no ${token} token`, 'FILE_UNREADABLE');
      return value;
    };
    this.startId = id(START);
    this.endId = id(END);
  }

  /** tokenizer/vocab.json and tokenizer/merges.txt of a diffusers model folder. */
  static async fromDirectory(directory: string): Promise<ClipTokenizer> {
    const vocabPath = join(directory, 'vocab.json');
    const mergesPath = join(directory, 'merges.txt');
    let vocabText: string;
    let mergesText: string;
    try {
      // One after the other, so a folder missing both always names vocab.json first.
      vocabText = await readFile(vocabPath, 'utf8');
      mergesText = await readFile(mergesPath, 'utf8');
    } catch (error) {
      throw new UserError(`tokenizer: cannot read ${(error as NodeJS.ErrnoException).path ?? directory} (expected vocab.json and merges.txt)`, 'FILE_UNREADABLE');
    }
    let vocab: Record<string, number>;
    try {
      vocab = JSON.parse(vocabText) as Record<string, number>;
    } catch {
      throw new UserError(`tokenizer: ${vocabPath} is not JSON`, 'FILE_UNREADABLE');
    }
    return new ClipTokenizer({ vocab: new Map(Object.entries(vocab)), merges: parseMerges(mergesText) });
  }

  get vocabularySize(): number {
    return this.vocabulary.vocab.size;
  }

  /** The 77 ids the text encoder takes: start, up to 75 tokens, end, then `padId` (the end token unless given). */
  encode(text: string, { padId = this.endId }: { readonly padId?: number } = {}): number[] {
    const tokens = this.tokenize(text).slice(0, CONTEXT_LENGTH - 2);
    const ids = [this.startId, ...tokens, this.endId];
    while (ids.length < CONTEXT_LENGTH) ids.push(padId);
    return ids;
  }

  /** A token's id in the vocabulary, or undefined when it has none. */
  tokenId(token: string): number | undefined {
    return this.vocabulary.vocab.get(token);
  }

  /** Token ids without the start/end framing. */
  tokenize(text: string): number[] {
    const cleaned = text.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
    const ids: number[] = [];
    for (const match of cleaned.matchAll(SPLIT)) {
      const word = match[0];
      if (word === START || word === END) {
        ids.push(word === START ? this.startId : this.endId);
        continue;
      }
      const mapped = [...new TextEncoder().encode(word)].map((b) => this.byteChars[b]!).join('');
      ids.push(...this.bpe(mapped));
    }
    return ids;
  }

  private bpe(word: string): number[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const symbols = [...word];
    symbols[symbols.length - 1] += '</w>';
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < symbols.length - 1; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      const [first, second] = [symbols[best]!, symbols[best + 1]!];
      // Merge every occurrence of the pair, left to right, as CLIP's bpe() does.
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i < symbols.length - 1 && symbols[i] === first && symbols[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else merged.push(symbols[i]!);
      }
      symbols.splice(0, symbols.length, ...merged);
    }
    const unknown = this.endId; // CLIPTokenizer's unk_token is <|endoftext|>
    const ids = symbols.map((s) => this.vocabulary.vocab.get(s) ?? unknown);
    this.cache.set(word, ids);
    return ids;
  }
}

export function parseMerges(text: string): string[] {
  return text.split('\n').filter((line, i) => line.trim().length > 0 && !(i === 0 && line.startsWith('#version')));
}

/**
 * The vocab.json and merges.txt transformers derives from OpenAI's bpe_simple_vocab_16e6.txt: the 256
 * byte characters, the same with "</w>", one token per merge, then the two special tokens.
 */
export function vocabularyFromBpe(bpeText: string): ClipVocabulary {
  const merges = bpeText.split('\n').slice(1, 49152 - 256 - 2 + 1);
  const bytes = byteTokens();
  const tokens = [...bytes, ...bytes.map((b) => `${b}</w>`), ...merges.map((m) => m.replace(' ', '')), START, END];
  return { vocab: new Map(tokens.map((token, id) => [token, id])), merges };
}

/** A valid vocabulary with no merges: every byte is a token. For tiny test models. */
export function byteVocabulary(): ClipVocabulary {
  const bytes = byteTokens();
  const tokens = [...bytes, ...bytes.map((b) => `${b}</w>`), START, END];
  return { vocab: new Map(tokens.map((token, id) => [token, id])), merges: [] };
}

export function vocabularyFiles(vocabulary: ClipVocabulary): { vocabJson: string; mergesTxt: string } {
  return {
    vocabJson: JSON.stringify(Object.fromEntries(vocabulary.vocab)),
    mergesTxt: `#version: 0.2\n${vocabulary.merges.join('\n')}\n`,
  };
}
