"""CLIP tokens for the tokenizer tests, computed the way OpenAI's simple_tokenizer.py does (regex module,
bpe by merge rank), straight from bpe_simple_vocab_16e6.txt.gz. ftfy is not applied, matching the service.
Reads {"bpe": path, "prompts": [...]} on stdin, writes [[ids...], ...] (77 each)."""
import gzip
import json
import sys
import unicodedata

import regex


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class Tokenizer:
    def __init__(self, bpe_path):
        merges = gzip.open(bpe_path).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        self.byte_encoder = bytes_to_unicode()
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.pattern = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)

    def bpe(self, token):
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            bigram = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if bigram not in self.ranks:
                break
            first, second = bigram
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        return word

    def encode(self, text):
        text = " ".join(unicodedata.normalize("NFC", text).split()).lower()
        ids = []
        for token in regex.findall(self.pattern, text):
            if token in ("<|startoftext|>", "<|endoftext|>"):  # OpenAI's bpe cache maps these to themselves
                ids.append(self.encoder[token])
                continue
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token))
        start, end = self.encoder["<|startoftext|>"], self.encoder["<|endoftext|>"]
        ids = [start] + ids[:75] + [end]
        return ids + [end] * (77 - len(ids))


def main():
    request = json.load(sys.stdin)
    tokenizer = Tokenizer(request["bpe"])
    json.dump([tokenizer.encode(p) for p in request["prompts"]], sys.stdout)


if __name__ == "__main__":
    main()
