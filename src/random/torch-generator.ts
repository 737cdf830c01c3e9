// torch's CPU generator, so a seed gives the noise stream of `torch.manual_seed(seed); torch.randn(shape)`
// (A1111's "CPU" RNG source, ComfyUI's default): MT19937 seeded as ATen's mt19937_engine does, uniform
// floats from 24 bits of one draw, and randn's two fills (pytorch aten/src/ATen/native/cpu/
// DistributionTemplates.h normal_kernel) — Box–Muller over blocks of 16 for tensors of 16 values or more
// (normal_fill), per-value double Box–Muller with a cached second value below that. Below 16 values the
// result is torch's bit for bit; from 16 on torch transforms in float32 and this in float64, so values
// differ by float32 rounding (up to ~1e-6; test/random/torch-generator.test.ts derives the bound).

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;

export class Mt19937 {
  private readonly state = new Uint32Array(N);
  private left = 1;
  private next = 0;

  /** ATen's init_with_uint32: only the low 32 bits of the seed matter. */
  constructor(seed: bigint | number) {
    this.state[0] = Number(BigInt.asUintN(32, BigInt(seed)));
    for (let j = 1; j < N; j++) {
      const previous = this.state[j - 1]!;
      this.state[j] = (Math.imul(1812433253, (previous ^ (previous >>> 30)) >>> 0) + j) >>> 0;
    }
  }

  nextUint32(): number {
    if (--this.left === 0) this.twist();
    let y = this.state[this.next++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const s = this.state;
    const mix = (u: number, v: number): number => ((((u & 0x80000000) | (v & 0x7fffffff)) >>> 1) ^ (v & 1 ? MATRIX_A : 0)) >>> 0;
    for (let k = 0; k < N; k++) s[k] = (s[(k + M) % N]! ^ mix(s[k]!, s[(k + 1) % N]!)) >>> 0;
    this.left = N;
    this.next = 0;
  }
}

export class TorchGenerator {
  private readonly engine: Mt19937;
  private cachedNormal: number | undefined;

  constructor(seed: bigint | number) {
    this.engine = new Mt19937(seed);
  }

  /** at::uniform_real_distribution<float>(0, 1): 24 random bits. */
  uniformFloat(): number {
    return (this.engine.nextUint32() & 0xffffff) * 2 ** -24;
  }

  /** at::uniform_real_distribution<double>(0, 1): 53 bits of random64() = (first draw << 32) | second draw. */
  uniformDouble(): number {
    const high = this.engine.nextUint32();
    const low = this.engine.nextUint32();
    return ((high & 0x1fffff) * 2 ** 32 + low) * 2 ** -53;
  }

  /** torch.randn of `count` float32 values, continuing this generator's stream. */
  randn(count: number): Float32Array {
    return count >= 16 ? this.normalFill(count) : Float32Array.from({ length: count }, () => this.normalDouble());
  }

  private normalFill(count: number): Float32Array {
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= count; i += 16) boxMuller16(data, i);
    if (count % 16 !== 0) {
      // torch redraws the last 16 values and transforms them again.
      for (let i = count - 16; i < count; i++) data[i] = this.uniformFloat();
      boxMuller16(data, count - 16);
    }
    return data;
  }

  private normalDouble(): number {
    if (this.cachedNormal !== undefined) {
      const value = this.cachedNormal;
      this.cachedNormal = undefined;
      return value;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const radius = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = radius * Math.sin(theta);
    return radius * Math.cos(theta);
  }
}

function boxMuller16(data: Float32Array, at: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = 1 - data[at + j]!;
    const u2 = data[at + j + 8]!;
    const radius = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    data[at + j] = radius * Math.cos(theta);
    data[at + j + 8] = radius * Math.sin(theta);
  }
}
