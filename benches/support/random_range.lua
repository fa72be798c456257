-- wrk script for tower-range's `benches/compare.rs`: GET RANGE_PATH with a `Range` of
-- RANGE_LEN bytes at a random offset in a file of FILE_SIZE bytes (RANGE_LEN=0: `bytes=0-`).
-- With FILES set (W7), each request picks a random file `/media/dNN/fNNNN.bin` of FILES files
-- (100 to a directory) instead, so that every request opens a file.
-- `done` prints one machine-readable line that the driver parses.

local path = os.getenv("RANGE_PATH") or "/video"
local files = tonumber(os.getenv("FILES") or "0")
local file_size = tonumber(os.getenv("FILE_SIZE") or "0")
local range_len = tonumber(os.getenv("RANGE_LEN") or "0")
local seed = tonumber(os.getenv("RANGE_SEED") or "1")

local threads = 0
function setup(thread)
   thread:set("thread_index", threads)
   threads = threads + 1
end

function init(args)
   math.randomseed(seed + 7919 * (thread_index or 0))
end

function request()
   local target = path
   if files > 0 then
      local k = math.random(0, files - 1)
      target = string.format("/media/d%02d/f%04d.bin", math.floor(k / 100), k)
   end
   local range
   if range_len <= 0 then
      range = "bytes=0-"
   else
      local offset = math.random(0, file_size - range_len)
      range = "bytes=" .. offset .. "-" .. (offset + range_len - 1)
   end
   return wrk.format("GET", target, { ["Range"] = range })
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d bytes=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
      e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
