/** Rounds halves to the even neighbour, as Python's round() and numpy.rint do (JS Math.round rounds them up). */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  if (value - floor !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}
