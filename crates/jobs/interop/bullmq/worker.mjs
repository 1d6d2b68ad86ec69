// A real BullMQ Worker for the jobs crate's interoperability tests: it processes the jobs that the
// Rust producer (src/interop/bullmq.rs) adds, and BullMQ itself records the outcome in Redis.
//
//   node worker.mjs <redis-url> <prefix> <queue> [stalled-check interval, ms]
//
// The "add" job returns { sum: x + y }; it throws while the attempt number is below
// data.failTimes, so the job's attempts (the `atm` field BullMQ keeps) are visible in Redis.
// It prints one line, "ready", once both of its Redis connections are up, one line per finished
// attempt, and stops cleanly on SIGTERM (a test that is done kills it).
import { Worker } from 'bullmq';
import IORedis from 'ioredis';

const [redisUrl, prefix, queue, stalledMs] = process.argv.slice(2);
if (!redisUrl || !prefix || !queue) {
  console.error('usage: node worker.mjs <redis-url> <prefix> <queue>');
  process.exit(2);
}

// BullMQ requires maxRetriesPerRequest: null on a worker's connection: its blocking commands
// must wait for Redis, not fail after a retry count.
const connection = new IORedis(redisUrl, { maxRetriesPerRequest: null });

const worker = new Worker(
  queue,
  async (job) => {
    const { x, y, failTimes = 0 } = job.data;
    // attemptsMade counts the attempts that finished before this one.
    if (job.attemptsMade < failTimes) {
      throw new Error(`failing on purpose, attempt ${job.attemptsMade + 1} of ${failTimes}`);
    }
    return { sum: x + y, attempt: job.attemptsMade + 1, processedBy: 'bullmq' };
  },
  // The stalled-job check (every 30 s by default) moves an active job whose lock has lapsed back
  // to wait; a test shortens it to show what it does to a job taken without BullMQ's lock.
  { connection, prefix, concurrency: 1, stalledInterval: Number(stalledMs ?? 30000) },
);

worker.on('error', (err) => console.error(`worker error: ${err.message}`));
worker.on('failed', (job, err) => console.log(`failed ${job?.id} attempt ${job?.attemptsMade}: ${err.message}`));
worker.on('completed', (job) => console.log(`completed ${job.id}`));

let stopping = false;
async function stop(why) {
  if (stopping) return;
  console.log(`stopping: ${why}`);
  stopping = true;
  await worker.close();
  await connection.quit();
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));

await worker.waitUntilReady();
console.log('ready');
