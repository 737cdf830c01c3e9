import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { vocabularyFromBpe, type ClipVocabulary } from './clip-tokenizer.js';

/**
 * OpenAI CLIP's BPE merges (MIT, assets/clip/LICENSE), shipped with the package: SD 1.x, 2.x and SDXL
 * all tokenize with it, and a checkpoint file does not carry it. Same depth below the package root from src/ and dist/.
 */
export const CLIP_BPE_PATH = fileURLToPath(new URL('../../assets/clip/bpe_simple_vocab_16e6.txt.gz', import.meta.url));

/** The vocabulary of a gzipped CLIP BPE file (CLIP_BPE_PATH unless another is named). */
export async function readClipVocabulary(path = CLIP_BPE_PATH): Promise<ClipVocabulary> {
  return vocabularyFromBpe(gunzipSync(await readFile(path)).toString('utf8'));
}
