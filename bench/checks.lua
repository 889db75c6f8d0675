-- wrk script: register checks, each a quote then its commit, random members, one merchant.
--
--   wrk -t2 -c8 -d15s --latency -s bench/checks.lua http://127.0.0.1:PORT \
--       -- BODIES_FILE REGISTER_KEY KEY_PREFIX
--
-- BODIES_FILE holds one check per line (JSON: 10 lines, a member; bench/checks.py
-- writes it), taken at random; every check earns points. Requests alternate: POST /v1/checks/quotes,
-- then POST /v1/checks with the same body and a unique Idempotency-Key. At the end
-- one line "BENCH_JSON {...}" holds the figures (latencies in microseconds).

local threads = {}

function setup(thread)
   thread:set("thread_id", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   local path, register_key, prefix = args[1], args[2], args[3]
   bodies = {}
   for line in io.lines(path) do
      if #line > 0 then bodies[#bodies + 1] = line end
   end
   math.randomseed(os.time() * 1000 + thread_id * 7919 + math.floor(os.clock() * 1e6))
   key_prefix = string.format("%s-%d", prefix, thread_id)
   headers = {
      ["Authorization"] = "Bearer " .. register_key,
      ["Content-Type"] = "application/json",
   }
   sent, quoting, body = 0, true, nil
end

local function check_body()
   return bodies[math.random(#bodies)]
end

function request()
   sent = sent + 1
   if quoting then
      body = check_body()
      quoting = false
      return wrk.format("POST", "/v1/checks/quotes", headers, body)
   end
   quoting = true
   local with_key = {}
   for k, v in pairs(headers) do with_key[k] = v end
   with_key["Idempotency-Key"] = string.format("%s-%d-%d", key_prefix, sent, math.random(1e9))
   return wrk.format("POST", "/v1/checks", with_key, body)
end

function done(summary, latency, requests)
   local figures = {
      duration_us = summary.duration, requests = summary.requests,
      errors = summary.errors,
      latency_us = {
         p50 = latency:percentile(50), p99 = latency:percentile(99), max = latency.max,
         mean = latency.mean,
      },
   }
   local parts = {}
   parts[#parts + 1] = string.format('"duration_us":%d,"requests":%d', figures.duration_us,
      figures.requests)
   parts[#parts + 1] = string.format('"errors":{"status":%d,"timeout":%d,"connect":%d}',
      summary.errors.status, summary.errors.timeout, summary.errors.connect)
   parts[#parts + 1] = string.format('"latency_us":{"p50":%d,"p99":%d,"max":%d,"mean":%.1f}',
      figures.latency_us.p50, figures.latency_us.p99, figures.latency_us.max,
      figures.latency_us.mean)
   io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\n")
end
