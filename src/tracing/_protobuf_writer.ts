// Internal: a small protobuf wire-format writer into one growing buffer,
// enough for OTLP trace export requests. Nested messages are written in
// place: `begin()` reserves one length byte and `end()` fills it in, moving
// the message right when its length needs more bytes.

const TWO_32 = 4294967296;
const UTF8 = new TextEncoder();

export class ProtoWriter {
  buf: Uint8Array;
  view: DataView;
  pos = 0;

  constructor(capacity = 64 * 1024) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  /** The bytes written so far (a view, valid until the next write). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** One byte (a tag below 16, a bool). */
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** A varint of a non-negative safe integer. */
  varint(n: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (n >= 128) {
      buf[pos++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /** An int64 varint of a safe integer (negative ones take ten bytes). */
  int64(n: number): void {
    if (n >= 0) return this.varint(n);
    let lo = n >>> 0;
    let hi = Math.floor(n / TWO_32) >>> 0;
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (hi !== 0 || lo >= 128) {
      buf[pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  /** A little-endian fixed32. */
  fixed32(n: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, n, true);
    this.pos += 4;
  }

  /** A little-endian double. */
  double(n: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, n, true);
    this.pos += 8;
  }

  /** Epoch milliseconds as fixed64 nanoseconds, rounded to the nanosecond, exactly. */
  timeNs(ms: number): void {
    let sec = Math.floor(ms / 1000);
    let nanos = Math.round((ms - sec * 1000) * 1e6);
    if (nanos >= 1e9) {
      sec++;
      nanos -= 1e9;
    }
    // sec * 1e9 + nanos as two 32-bit words, with exact double arithmetic.
    const secHi = Math.floor(sec / 65536), secLo = sec - secHi * 65536;
    const a = secLo * 1e9 + nanos;
    const b = secHi * 1e9; // times 65536
    const bHi = Math.floor(b / 65536);
    let lo = (a % TWO_32) + (b - bHi * 65536) * 65536;
    let hi = Math.floor(a / TWO_32) + bHi;
    if (lo >= TWO_32) {
      lo -= TWO_32;
      hi++;
    }
    this.ensure(8);
    this.view.setUint32(this.pos, lo, true);
    this.view.setUint32(this.pos + 4, hi, true);
    this.pos += 8;
  }

  /** Raw bytes. */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** A length-delimited string (UTF-8). */
  string(s: string): void {
    const mark = this.begin();
    this.ensure(s.length * 3);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 128) {
        this.pos = pos;
        const { written } = UTF8.encodeInto(s.slice(i), buf.subarray(pos));
        pos += written;
        break;
      }
      buf[pos++] = c;
    }
    this.pos = pos;
    this.end(mark);
  }

  /** Length-delimited bytes from lowercase hex (ids checked beforehand). */
  hex(hex: string): void {
    const n = hex.length >> 1;
    this.byte(n);
    this.ensure(n);
    const buf = this.buf;
    for (let i = 0; i < n; i++) {
      buf[this.pos++] = (_nibble(hex.charCodeAt(2 * i)) << 4) | _nibble(hex.charCodeAt(2 * i + 1));
    }
  }

  /** Starts a length-delimited value; returns the mark for `end`. */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Ends a length-delimited value started at `mark`. */
  end(mark: number): void {
    const len = this.pos - mark - 1;
    if (len < 128) {
      this.buf[mark] = len;
      return;
    }
    let size = 1;
    for (let n = len; n >= 128; n = Math.floor(n / 128)) size++;
    this.ensure(size - 1);
    this.buf.copyWithin(mark + size, mark + 1, this.pos);
    this.pos += size - 1;
    let n = len, pos = mark;
    while (n >= 128) {
      this.buf[pos++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    this.buf[pos] = n;
  }
}

function _nibble(c: number): number {
  return c <= 57 ? c - 48 : c - 87; // 0-9, a-f
}
