import { decodeStrictBase64 } from '../../src/encoding/base64';

describe('decodeStrictBase64', () => {
  it('decodes padded base64 with whitespace between characters', () => {
    expect(decodeStrictBase64('aGVp\r\nc2Fu')?.toString()).toBe('heisan');
    expect(decodeStrictBase64('aGk=')?.toString()).toBe('hi');
    expect(decodeStrictBase64('aA==')?.toString()).toBe('h');
    expect(decodeStrictBase64('')?.length).toBe(0);
  });

  it('refuses what is not strict base64', () => {
    for (const bad of ['aGVp!', 'aGV', 'aGk=aGk=', 'a===', 'aGVp\u0000', 'aGVpé===', '=aGk', 'aG=k']) {
      expect(decodeStrictBase64(bad)).toBeUndefined();
    }
  });

  it('checks texts of tens of MiB without overflowing the stack (a backtracking pattern threw RangeError above ~3.2 MiB)', () => {
    const bytes = Buffer.alloc(30 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i % 251;
    const text = bytes.toString('base64');
    expect(text.length).toBe(40 * 1024 * 1024);
    expect(decodeStrictBase64(text)?.equals(bytes)).toBe(true);
    expect(decodeStrictBase64(`${text.slice(0, -4)}!!!!`)).toBeUndefined();
  });
});
