import mqemitter from 'mqemitter';

/**
 * The message bus aedes routes publishes through: mqemitter with aedes' own defaults, minus two
 * announcements nobody can receive. aedes publishes `$SYS/<broker id>/new/clients` on every CONNECT
 * and `…/disconnect/clients` on every close — for brokers clustered over a shared bus, which a
 * Gatehouse process never is (its bus is in memory), and devices may not subscribe to `$SYS`
 * (authorizeSubscribe allows C2D topics only). Routing each through the topic matcher cost a few
 * microseconds per connection for no reader; they are answered as delivered instead. Everything
 * else, aedes' own `$SYS` heartbeat and birth included, is routed as before.
 */
export function createBrokerEmitter(brokerId: string): mqemitter.MQEmitter {
  const mq = mqemitter({ concurrency: 100, matchEmptyLevels: true });
  const unread = new Set([`$SYS/${brokerId}/new/clients`, `$SYS/${brokerId}/disconnect/clients`]);
  const emit = mq.emit.bind(mq);
  mq.emit = (message, cb) => {
    if (unread.has(message.topic)) cb?.();
    else emit(message, cb);
  };
  return mq;
}
