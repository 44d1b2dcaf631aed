-- wrk script for the check-in benchmark (scripts/bench/claims.py drives it).
--
--   wrk -t1 -c64 -d10s --latency -s claims.lua http://127.0.0.1:PORT -- health
--   wrk -t1 -c64 -d10s --latency -s claims.lua http://127.0.0.1:PORT -- claims BODIES_FILE
--
-- "health": every request is GET /health (constant JSON). "claims": every request is a POST
-- /api/v1/claims with the next body of BODIES_FILE (one pre-signed JSON claim per line, each used
-- once; past the end the bodies are reused, and the server answers those 409, counted apart).
-- At the end one JSON line on stdout: requests, seconds, status counts and latency percentiles (ms).

local mode = "health"
local bodies = {}
local next_body = 1
statuses = {} -- global: done() reads it from each thread with thread:get

function init(args)
  mode = args[1] or "health"
  if mode == "claims" then
    for line in io.lines(args[2]) do
      if #line > 0 then
        bodies[#bodies + 1] = line
      end
    end
    if #bodies == 0 then
      error("no claim bodies in " .. tostring(args[2]))
    end
  end
end

function request()
  if mode ~= "claims" then
    return wrk.format("GET", "/health")
  end
  local body = bodies[next_body]
  next_body = next_body + 1
  if next_body > #bodies then
    next_body = 1
  end
  return wrk.format("POST", "/api/v1/claims", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses") or {}
    for status, n in pairs(counts) do
      merged[status] = (merged[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(merged) do
    parts[#parts + 1] = string.format('"%s": %d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "statuses": {%s}, "socket_errors": %d, '
      .. '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests,
    summary.duration / 1e6,
    table.concat(parts, ", "),
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000,
    latency:percentile(90) / 1000,
    latency:percentile(99) / 1000,
    latency.max / 1000
  ))
end
