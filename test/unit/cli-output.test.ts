import { expect } from 'chai';
import { UsageError } from '../../cli/errors.js';
import { applyQuery, checkQuery, formatText } from '../../cli/output.js';

describe('the CLI output for scripts', () => {
  describe('--output text, as the aws CLI writes it', () => {
    it('writes the objects of a list one per line, prefixed with the list name, in the columns of every plain key any of them has', () => {
      const answer = { Keys: [{ KeyId: 'a', KeyArn: 'keyhold:key/a' }, { KeyId: 'b' }], NextToken: 'next' };
      expect(formatText(answer)).to.equal('next\nKEYS\tkeyhold:key/a\ta\nKEYS\t\tb\n');
    });

    it('writes an object\'s plain values in key order, then its nested lists and objects under their names', () => {
      const answer = { KeyMetadata: { KeyId: 'k', Enabled: true, Aliases: ['alias/a', 'alias/b'], Description: null } };
      expect(formatText(answer)).to.equal('KEYMETADATA\tNone\tTrue\tk\nALIASES\talias/a\nALIASES\talias/b\n');
    });

    it('writes a list of plain values on one tab-separated line, and a plain value alone', () => {
      expect(formatText(['a', 'b', 3])).to.equal('a\tb\t3\n');
      expect(formatText('just this')).to.equal('just this\n');
      expect(formatText(false)).to.equal('False\n');
    });

    it('writes nothing for an empty list', () => {
      expect(formatText({ Tags: [] })).to.equal('');
      expect(formatText([])).to.equal('');
    });
  });

  describe('--query', () => {
    it('picks with JMESPath, filters included', () => {
      const answer = { Keys: [{ KeyId: 'a', KeyState: 'Enabled' }, { KeyId: 'b', KeyState: 'Disabled' }] };
      expect(applyQuery(answer, "Keys[?KeyState=='Enabled'].KeyId")).to.deep.equal(['a']);
      expect(applyQuery(answer, 'length(Keys)')).to.equal(2);
    });

    it('refuses an expression that does not parse as a usage error', () => {
      expect(() => checkQuery('Keys[')).to.throw(UsageError, /--query is not a JMESPath expression/);
      expect(() => checkQuery('Keys[].KeyId')).to.not.throw();
    });

    it('refuses an expression that fails on the answer (a function given the wrong type) as a usage error', () => {
      expect(() => applyQuery({ Keys: [] }, 'abs(Keys)')).to.throw(UsageError, /--query/);
    });
  });
});
