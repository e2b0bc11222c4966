/**
 * The partition Event Hubs assigns to a partition key: Bob Jenkins' lookup3 hash (hashlittle2) of
 * the key's UTF-8 bytes, its two 32-bit halves XORed and cast to a 16-bit integer, modulo the
 * partition count. The same algorithm as the service and as the official SDK's buffered producer
 * (`mapPartitionKeyToId` in @azure/event-hubs, MIT licence, which is not exported); a test checks
 * that both agree.
 */
export function partitionIndexForKey(key: string, partitionCount: number): number {
  const { b, c } = lookup3(Buffer.from(key, "utf8"));
  const hash = new Int16Array([c ^ b])[0] ?? 0;
  return Math.abs(hash % partitionCount);
}

const rot = (x: number, k: number) => (x << k) | (x >>> (32 - k));

function lookup3(data: Buffer): { b: number; c: number } {
  let a = (0xdeadbeef + data.length) | 0;
  let b = a;
  let c = a;
  let offset = 0;
  let remaining = data.length;
  while (remaining > 12) {
    a = (a + data.readUInt32LE(offset)) | 0;
    b = (b + data.readUInt32LE(offset + 4)) | 0;
    c = (c + data.readUInt32LE(offset + 8)) | 0;
    // mix(a, b, c)
    a = (a - c) | 0;
    a ^= rot(c, 4);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rot(a, 6);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rot(b, 8);
    b = (b + a) | 0;
    a = (a - c) | 0;
    a ^= rot(c, 16);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rot(a, 19);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rot(b, 4);
    b = (b + a) | 0;
    offset += 12;
    remaining -= 12;
  }
  if (remaining === 0) return { b: b >>> 0, c: c >>> 0 };
  // The last 1-12 bytes, little-endian, zero-padded, into a, b, c.
  const tail = Buffer.alloc(12);
  data.copy(tail, 0, offset);
  a = (a + tail.readUInt32LE(0)) | 0;
  if (remaining > 4) b = (b + tail.readUInt32LE(4)) | 0;
  if (remaining > 8) c = (c + tail.readUInt32LE(8)) | 0;
  // final(a, b, c)
  c ^= b;
  c = (c - rot(b, 14)) | 0;
  a ^= c;
  a = (a - rot(c, 11)) | 0;
  b ^= a;
  b = (b - rot(a, 25)) | 0;
  c ^= b;
  c = (c - rot(b, 16)) | 0;
  a ^= c;
  a = (a - rot(c, 4)) | 0;
  b ^= a;
  b = (b - rot(a, 14)) | 0;
  c ^= b;
  c = (c - rot(b, 24)) | 0;
  return { b: b >>> 0, c: c >>> 0 };
}
