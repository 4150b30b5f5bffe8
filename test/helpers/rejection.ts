import { expect } from 'chai';

/** Awaits `promise` and returns what it rejects with, failing the test unless it rejects with an `errorClass`. */
export async function rejectionOf<E extends Error>(promise: Promise<unknown>, errorClass: abstract new (...args: never[]) => E): Promise<E> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(errorClass);
    return error as E;
  }
  expect.fail(`expected a ${errorClass.name}`);
}
