-- wrk script: wallet payments at one register, random customers, unique Idempotency-Keys.
--
--   wrk -t2 -c8 -d15s --latency -s bench/payments.lua http://127.0.0.1:PORT \
--       -- CUSTOMERS_FILE REGISTER_KEY KEY_PREFIX AMOUNT_MINOR
--
-- CUSTOMERS_FILE holds one customer (membership) id a line. Every request pays
-- AMOUNT_MINOR CZK from a random customer's wallet to the same merchant (its one
-- settlement account: the hot account). The Idempotency-Key is
-- KEY_PREFIX-<thread>-<counter>-<random>, unique per request, so every request
-- is a new payment (no replays). At the end one line "BENCH_JSON {...}" holds the
-- figures for bench/run.py (latencies in microseconds).

local threads = {}
local counter = 0

function setup(thread)
   thread:set("thread_id", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   local path, register_key, prefix, amount = args[1], args[2], args[3], args[4]
   customers = {}
   for line in io.lines(path) do
      if #line > 0 then customers[#customers + 1] = line end
   end
   assert(#customers > 0, "no customers in " .. path)
   math.randomseed(os.time() * 1000 + thread_id * 7919 + math.floor(os.clock() * 1e6))
   key_prefix = string.format("%s-%d", prefix, thread_id)
   body_format = '{"customer_id":"%s","asset":"CZK","amount_minor":' .. amount
      .. ',"reference":"%s"}'
   headers = {
      ["Authorization"] = "Bearer " .. register_key,
      ["Content-Type"] = "application/json",
   }
   sent = 0
end

function request()
   sent = sent + 1
   local key = string.format("%s-%d-%06x", key_prefix, sent, math.random(0, 0xFFFFFF))
   headers["Idempotency-Key"] = key
   local customer = customers[math.random(#customers)]
   return wrk.format("POST", "/v1/payments", headers, string.format(body_format, customer, key))
end

function done(summary, latency, requests)
   local generated = 0
   for _, thread in ipairs(threads) do
      generated = generated + (thread:get("sent") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,"generated":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,'
      .. '"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
      summary.duration, summary.requests, summary.bytes, generated,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9)))
end
