-- wrk script: POST a different request body each time, rotating through a pool of files.
-- BENCH_LIST names a file that lists the body files, one path per line. Each wrk thread starts
-- at its own offset in the pool. done() prints one RESULT line of JSON for bench/run_bench.py.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local bodies = {}
local i = 0
function init(args)
  local list = assert(io.open(os.getenv("BENCH_LIST"), "r"))
  for path in list:lines() do
    local f = assert(io.open(path, "rb"))
    bodies[#bodies + 1] = f:read("*a")
    f:close()
  end
  list:close()
  i = (tid or 0) * math.floor(#bodies / 2)
end

function request()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "non2xx": %d, ' ..
    '"p50": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f}\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
