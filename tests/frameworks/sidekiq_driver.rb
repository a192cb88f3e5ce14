# Make a Sidekiq queue with Sidekiq's own API, then print its own counts as JSON (Debian's ruby-sidekiq).
require "json"
require "timeout"
require "sidekiq/api"
require_relative "sidekiq_jobs"

url = "redis://127.0.0.1:#{ARGV[0]}/0"
ENV["REDIS_URL"] = url
Sidekiq.configure_client { |config| config.redis = { url: url } }

# A failed job, made by Sidekiq's own worker process running a job that raises.
BoomJob.perform_async
worker = spawn({ "REDIS_URL" => url }, "sidekiq", "-r", File.join(__dir__, "sidekiq_jobs.rb"), "-q", "default", "-c", "1",
               out: File::NULL, err: File::NULL)
Timeout.timeout(60) { sleep 0.1 until Sidekiq::DeadSet.new.size == 1 }
Process.kill("TERM", worker)
Process.wait(worker)

# A backlog in batches a second apart, scheduled jobs (one due but not yet moved by a poller).
3.times do |batch|
  sleep 1 if batch.positive?
  4.times { |i| OkJob.perform_async(batch * 10 + i) }
end
OkJob.perform_in(600, "later")
OkJob.perform_in(0.5, "soon")
sleep 1
queue = Sidekiq::Queue.new("default")
puts JSON.generate(
  waiting: queue.size,
  oldest_enqueued_at: queue.map(&:enqueued_at).min.to_f,
  latency: queue.latency,
  dead: Sidekiq::DeadSet.new.size,
  delayed: Sidekiq::ScheduledSet.new.size
)
