import { setFlagsFromString } from 'node:v8';

// Each upscale leaves megabytes of buffers and strings behind (base64 in and out). Under V8's own
// heap-growing heuristics the service fell, in some runs of bench/service.ts, into a full mark-compact
// every one or two requests: 36–44 ms of CPU a request, against 13–16 ms in other runs of the same code.
// A fixed growing factor (the old generation may grow to 4× what the last full collection kept, about
// 35 MB here) keeps it out of that state. V8 reads the flag each time it sets the heap's limit
// (v8/src/heap/heap-controller.cc), so setting it as the process starts takes effect.
setFlagsFromString('--heap-growing-percent=300');
