/**
 * aedes 1.2 builds its mqtt-packet parser without a size limit, and mqtt-packet buffers a whole
 * packet (up to 256 MB by the protocol) before parsing it. This bounds one client's parser: the
 * remaining-length field is checked as soon as it is read, before any payload is buffered.
 */
interface ParserInternals {
  packet: { length: number };
  _parseLength: () => boolean;
  _emitError: (err: Error) => void;
  [kMaxBytes]?: number;
  [kOriginal]?: () => boolean;
}

const kMaxBytes = Symbol('gatehouse.maxPacketBytes');
const kOriginal = Symbol('gatehouse.parseLength');

export class PacketTooLargeError extends Error {
  constructor(length: number, max: number) {
    super(`MQTT packet of ${length} bytes exceeds the limit of ${max}`);
    this.name = 'PacketTooLargeError';
  }
}

// One shared function for every parser, so bounding a connection allocates no closure.
function boundedParseLength(this: ParserInternals): boolean {
  if (!(this[kOriginal] as () => boolean).call(this)) return false;
  const max = this[kMaxBytes] ?? 0;
  if (this.packet.length > max) {
    this._emitError(new PacketTooLargeError(this.packet.length, max));
    return false;
  }
  return true;
}

/**
 * Bounds the remaining length of every packet the aedes `client` receives. Returns false when the
 * client does not have the parser internals this relies on (aedes changed): the caller must then
 * refuse the connection, since the limit could not be installed.
 */
export function limitPacketSize(client: unknown, maxBytes: number): boolean {
  const parser = (client as { _parser?: Partial<ParserInternals> } | null)?._parser;
  const original = parser
    ? (Object.getPrototypeOf(parser) as Partial<ParserInternals>)._parseLength
    : undefined;
  if (!parser || typeof original !== 'function' || typeof parser._emitError !== 'function') return false;
  parser[kOriginal] = original;
  parser[kMaxBytes] = maxBytes;
  parser._parseLength = boundedParseLength;
  return true;
}
