/** Resolving a requested byte range against a file's size (CONTRACT §2.5). */
import { BrokerError } from '../../src/broker/errors';
import { resolveRange, type RangeRequest } from '../../src/broker/download-file-transfer';

function unsatisfiable(range: RangeRequest, size: number): BrokerError {
  try {
    resolveRange(range, size);
  } catch (error) {
    return error as BrokerError;
  }
  throw new Error(`${JSON.stringify(range)} of ${size} resolved`);
}

it.each<[RangeRequest, number, { start: number; end: number }]>([
  [{ start: 0, end: 9 }, 36, { start: 0, end: 9 }],
  [{ start: 10 }, 36, { start: 10, end: 35 }],
  [{ start: 30, end: 1000 }, 36, { start: 30, end: 35 }],
  [{ suffixLength: 5 }, 36, { start: 31, end: 35 }],
  [{ suffixLength: 100 }, 36, { start: 0, end: 35 }],
  [{ start: 35, end: 35 }, 36, { start: 35, end: 35 }],
])('%j of %d bytes → %j', (range, size, expected) => {
  expect(resolveRange(range, size)).toEqual(expected);
});

it.each<[RangeRequest, number]>([
  [{ start: 36 }, 36],
  [{ start: 5, end: 3 }, 36],
  [{ suffixLength: 0 }, 36],
  [{ start: 0 }, 0],
  [{ suffixLength: 1 }, 0],
])('%j of %d bytes is not satisfiable, and says the size', (range, size) => {
  const error = unsatisfiable(range, size);
  expect(error).toBeInstanceOf(BrokerError);
  expect(error.name).toBe('RangeNotSatisfiable');
  expect(error.details.size).toBe(size);
});
