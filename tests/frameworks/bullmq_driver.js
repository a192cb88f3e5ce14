// Make a BullMQ queue with BullMQ's own API, then print its own counts as JSON (node, .frameworks/node).
const { Queue, Worker, QueueEvents } = require("bullmq");

const connection = { host: "127.0.0.1", port: Number(process.argv[2]), maxRetriesPerRequest: null };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const queue = new Queue("mail", { connection });
  // A failed job, made by BullMQ's worker running a processor that throws.
  await queue.add("bad", { n: 0 }, { attempts: 1 });
  const failed = new Promise((resolve) => {
    const worker = new Worker("mail", async () => { throw new Error("boom"); }, { connection, autorun: true });
    worker.on("failed", async () => { await worker.close(); resolve(); });
  });
  await failed;
  // A job in flight: a worker takes it and never finishes (the process exits with it active).
  await queue.add("slow", {});
  const busy = new Worker("mail", () => new Promise(() => {}), { connection, autorun: true });
  while ((await queue.getJobCounts("active")).active < 1) await sleep(20);
  await busy.pause(true); // takes nothing more; the active job stays active
  // A backlog in batches a second apart, prioritized jobs, delayed jobs.
  for (let batch = 0; batch < 3; batch++) {
    if (batch) await sleep(1000);
    for (let i = 0; i < 4; i++) await queue.add("send", { batch, i });
  }
  await queue.add("urgent", {}, { priority: 1 });
  await queue.add("urgent", {}, { priority: 5 });
  await queue.add("later", {}, { delay: 600000 });
  await queue.add("soon", {}, { delay: 1 });
  await sleep(50); // "soon" is now due but no worker moved it: overdue
  const counts = await queue.getJobCounts("wait", "paused", "prioritized", "active", "failed", "delayed");
  const waiting = await queue.getJobs(["wait"], 0, -1, true);
  const oldest = Math.min(...waiting.map((job) => job.timestamp)) / 1000;
  console.log(JSON.stringify({
    waiting: counts.wait + counts.paused + counts.prioritized,
    oldest_enqueued_at: oldest,
    in_flight: counts.active,
    dead: counts.failed,
    delayed: counts.delayed,
    counts,
  }));
  await queue.close();
}
main().then(() => process.exit(0), (error) => { console.error(error); process.exit(1); });
