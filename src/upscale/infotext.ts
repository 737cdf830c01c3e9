// A1111's infotext (modules/processing.py create_infotext): the prompt, "Negative prompt: …", then one line
// of "Key: value" pairs. A1111's PNG Info and its "send to" buttons parse it back, so we write the same.

export interface InfotextFields {
  readonly prompt: string;
  readonly negativePrompt: string;
  /** Ordered as A1111 orders them; values with commas or quotes are quoted, as A1111 does. */
  readonly parameters: readonly (readonly [string, string | number | boolean])[];
}

export function infotext({ prompt, negativePrompt, parameters }: InfotextFields): string {
  const line = parameters.map(([key, value]) => `${key}: ${quote(String(value))}`).join(', ');
  const negative = negativePrompt.length > 0 ? `\nNegative prompt: ${negativePrompt}` : '';
  return `${prompt}${negative}\n${line}`.trim();
}

/** modules/infotext_utils.py quote(): JSON-quote values holding a comma, colon or newline. */
function quote(text: string): string {
  return /[,:\n]/.test(text) ? JSON.stringify(text) : text;
}
