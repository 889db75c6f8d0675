-- wrk script: gift card spends at one register, random cards, unique Idempotency-Keys.
--
--   wrk -t2 -c8 -d15s --latency -s bench/gift_cards.lua http://127.0.0.1:PORT \
--       -- CARDS_FILE REGISTER_KEY KEY_PREFIX AMOUNT_MINOR
--
-- CARDS_FILE holds one active card a line: its number and PIN, separated by a
-- space. Every request spends AMOUNT_MINOR from a random card (number + PIN check +
-- ledger transfer), with the Idempotency-Key KEY_PREFIX-<thread>-<counter>-<random>.
-- At the end one line "BENCH_JSON {...}" holds the figures for bench/run.py, as
-- payments.lua prints them.

local threads = {}

function setup(thread)
   thread:set("thread_id", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   local path, register_key, prefix, amount = args[1], args[2], args[3], args[4]
   bodies = {}
   local body_format = '{"number":"%s","pin":"%s","amount_minor":' .. amount .. '}'
   for line in io.lines(path) do
      local number, pin = line:match("^(%S+) (%S+)$")
      if number then bodies[#bodies + 1] = string.format(body_format, number, pin) end
   end
   assert(#bodies > 0, "no cards in " .. path)
   math.randomseed(os.time() * 1000 + thread_id * 7919 + math.floor(os.clock() * 1e6))
   key_prefix = string.format("%s-%d", prefix, thread_id)
   headers = {
      ["Authorization"] = "Bearer " .. register_key,
      ["Content-Type"] = "application/json",
   }
   sent = 0
end

function request()
   sent = sent + 1
   headers["Idempotency-Key"] = string.format(
      "%s-%d-%06x", key_prefix, sent, math.random(0, 0xFFFFFF))
   return wrk.format("POST", "/v1/gift-cards/spends", headers, bodies[math.random(#bodies)])
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
