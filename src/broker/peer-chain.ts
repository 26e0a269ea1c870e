import type { CertInfo } from '../pki/index.ts';
import { readPeerChain } from '../pki/peer-chain.ts';

export { MAX_PEER_CHAIN } from '../pki/peer-chain.ts';

/** The certificates the TLS peer presented, leaf first; `undefined` when the stream is not TLS. */
export type PeerChainReader = (conn: unknown) => readonly CertInfo[] | undefined;

/** The broker reads peers through the one shared reader; tests inject others through this type. */
export const tlsPeerChain: PeerChainReader = readPeerChain;
