import { expect } from 'chai';
import { UsageError } from '../../cli/errors.js';
import { parseTimeArgument } from '../../cli/time-argument.js';

const NOW = new Date('2026-12-04T14:00:00.000Z');
const parse = (value: string) => parseTimeArgument('--since', value, NOW).toISOString();

describe('parseTimeArgument (--since, --until)', () => {
  it('reads a time ago in seconds, minutes, hours and days', () => {
    expect(parse('30s')).to.equal('2026-12-04T13:59:30.000Z');
    expect(parse('15m')).to.equal('2026-12-04T13:45:00.000Z');
    expect(parse('2h')).to.equal('2026-12-04T12:00:00.000Z');
    expect(parse('7d')).to.equal('2026-11-27T14:00:00.000Z');
    expect(parse('0m')).to.equal(NOW.toISOString());
  });

  it('reads ISO 8601 dates and times, with Z or an offset', () => {
    expect(parse('2026-12-01')).to.equal('2026-12-01T00:00:00.000Z');
    expect(parse('2026-12-04T14:03:07Z')).to.equal('2026-12-04T14:03:07.000Z');
    expect(parse('2026-12-04T14:03:07.123Z')).to.equal('2026-12-04T14:03:07.123Z');
    expect(parse('2026-12-04T15:03+01:00')).to.equal('2026-12-04T14:03:00.000Z');
  });

  it('refuses a value that is no valid time with a UsageError naming the option', () => {
    for (const value of ['', 'yesterday', '15', 'm15', '15 m', '1.5h', '2w', '-2h', '2H', '1', 'May 5 2026', '2026-13-01', '2026-02-30',
      '2026-12-04T25:00Z', '2026-12-04T14:03:07Zjunk', '12/04/2026', '99999999d']) {
      expect(() => parseTimeArgument('--until', value, NOW), JSON.stringify(value)).to.throw(UsageError, /^--until expects an ISO 8601 time/);
    }
  });

  it('does not echo more than 64 characters of a bad value', () => {
    expect(() => parse('x'.repeat(500))).to.throw(UsageError).with.property('message').that.has.length.below(250);
  });
});
