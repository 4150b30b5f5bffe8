import { expect } from 'chai';
import { DisabledException, KmsError, NotFoundException } from '../../src/errors.js';

describe('errors', () => {
  it('instanceof works for KmsErrors and their subclasses', () => {
    const error = new DisabledException('off');
    expect(error).to.be.instanceOf(KmsError);
    expect(error).to.be.instanceOf(DisabledException);
    expect(error).to.not.be.instanceOf(NotFoundException);
    expect(new Error('plain')).to.not.be.instanceOf(KmsError);
    expect((null as unknown) instanceof KmsError).to.equal(false);
  });

  it('recognises a KmsError made by a second copy of the module, by its brand and type', () => {
    // What a second copy of src/errors.ts makes: another class, the same global brand.
    const foreign = Object.assign(new Error('off'), { type: 'DisabledException', status: 400 });
    expect(foreign).to.not.be.instanceOf(KmsError);
    Object.defineProperty(foreign, Symbol.for('keyhold.KmsError'), { value: true });
    expect(foreign).to.be.instanceOf(KmsError);
    expect(foreign).to.be.instanceOf(DisabledException);
    expect(foreign).to.not.be.instanceOf(NotFoundException);
  });

  it('a subclass that declares no __type of its own matches no KmsError of another copy', () => {
    class Custom extends KmsError {}
    const foreign = Object.assign(new Error('x'), { type: 'NotFoundException', status: 404 });
    Object.defineProperty(foreign, Symbol.for('keyhold.KmsError'), { value: true });
    expect(foreign).to.not.be.instanceOf(Custom);
    expect(new NotFoundException('x')).to.not.be.instanceOf(Custom);
    expect(new Custom('X', 400, 'x')).to.be.instanceOf(Custom);
  });
});
