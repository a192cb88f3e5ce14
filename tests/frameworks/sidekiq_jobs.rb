# Jobs for the Sidekiq driver: one that works, one that raises (retry 0: straight to the dead set).
require "sidekiq"

class OkJob
  include Sidekiq::Worker
  def perform(value) = value
end

class BoomJob
  include Sidekiq::Worker
  sidekiq_options retry: 0
  def perform = raise("boom: a job that fails, for the dead-letter counts")
end
