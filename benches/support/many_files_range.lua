-- wrk script for W7 of tower-range's `benches/compare.rs`: each request GETs a random file
-- `/media/dNN/fNNNN.bin` of FILES files (100 to a directory) with a `Range` of RANGE_LEN bytes
-- at a random offset in its FILE_SIZE bytes, so that every request opens a file.
-- `done` prints the same machine-readable line as random_range.lua.

local files = tonumber(os.getenv("FILES") or "10000")
local file_size = tonumber(os.getenv("FILE_SIZE") or "1048576")
local range_len = tonumber(os.getenv("RANGE_LEN") or "4096")
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
   local k = math.random(0, files - 1)
   local path = string.format("/media/d%02d/f%04d.bin", math.floor(k / 100), k)
   local offset = math.random(0, file_size - range_len)
   local range = "bytes=" .. offset .. "-" .. (offset + range_len - 1)
   return wrk.format("GET", path, { ["Range"] = range })
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d bytes=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
      e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
