import { beforeAll, describe, expect, it } from 'vitest';
import { IntermediateMemory } from '../../../src/broker/intermediates.ts';
import { validateChain } from '../../../src/pki/index.ts';
import { makeCred, makeTestPki, type TestCred, type TestPki } from '../../helpers/pki.ts';

let pki: TestPki;
let inter2: TestCred;
let leaf: TestCred;
beforeAll(async () => {
  pki = await makeTestPki();
  inter2 = await makeCred('intermediate', 'Second Intermediate', pki.intermediate, { pathLen: 0 });
  leaf = await makeCred('client', 'deep-dev', inter2);
});

describe('IntermediateMemory', () => {
  it('completes a leaf-only chain with intermediates remembered from an accepted chain, up the issuer names', () => {
    const memory = new IntermediateMemory();
    expect(memory.complete([leaf.cert])).toEqual([leaf.cert]);
    memory.remember([leaf.cert, inter2.cert, pki.intermediate.cert, pki.root.cert]);
    const completed = memory.complete([leaf.cert]);
    expect(completed.map((c) => c.subjectCn)).toEqual([
      'deep-dev',
      'Second Intermediate',
      'Gatehouse Test Intermediate CA',
    ]);
    // Still only a candidate list: the path must end at a verified CA.
    expect(
      validateChain({
        leaf: leaf.cert,
        intermediates: completed.slice(1),
        anchors: [pki.root.cert],
        at: Date.now(),
      }).ok,
    ).toBe(true);
    expect(
      validateChain({ leaf: leaf.cert, intermediates: completed.slice(1), anchors: [], at: Date.now() }).ok,
    ).toBe(false);
  });

  it('leaves full chains and self-signed leaves alone, and never stores roots', () => {
    const memory = new IntermediateMemory();
    memory.remember([leaf.cert, pki.root.cert]);
    expect(memory.complete([leaf.cert])).toEqual([leaf.cert]);
    expect(memory.complete([leaf.cert, inter2.cert])).toEqual([leaf.cert, inter2.cert]);
    expect(memory.complete([pki.root.cert])).toEqual([pki.root.cert]);
  });

  it('is bounded', () => {
    const memory = new IntermediateMemory(1);
    memory.remember([leaf.cert, inter2.cert]);
    memory.remember([leaf.cert, pki.intermediate.cert]);
    // Only the most recent subject is kept.
    expect(memory.complete([leaf.cert])).toEqual([leaf.cert]);
  });
});
