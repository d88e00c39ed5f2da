-- wrk script for bench/single.py: one outreach_sent a POST /v1/participants/{id}/events.
--
-- Usage: wrk -t2 -c16 -d20s --latency -s bench/wrk/single_event.lua http://127.0.0.1:PORT -- PARAMS_FILE
-- PARAMS_FILE (written by bench/single.py) holds one "key value" a line:
--   token <access token>           (sent as Authorization: Bearer)
--   occurred_at <RFC 3339 time>
--   participant <uuid>             (one line each; split between the threads)
--   contact <uuid>                 (one line each)
-- Each request's event_id and outreach_id are new UUIDs (v4 layout: a random
-- part per thread run, the thread's number and its counter), so no request is a
-- replay of another. A thread walks its own share of the participants in turn,
-- so with more participants than connections no two requests in flight append
-- to the same stream.
-- Every answer other than 201 is counted (and the first few printed); done()
-- prints one line "plwrk {json}" with the counts and the latency percentiles.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local function read_params(path)
  local params = { participant = {}, contact = {} }
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    local key, value = line:match("^(%S+)%s+(.-)%s*$")
    if key == "participant" or key == "contact" then
      table.insert(params[key], value)
    elseif key then
      params[key] = value
    end
  end
  file:close()
  return params
end

local mine, contacts, occurred_at, prefix, id
local headers = {}

function init(args)
  local params = read_params(args[1])
  id = tonumber(wrk.thread:get("id")) or 1
  local nthreads = tonumber(params.threads or "1")
  mine = {}
  for i, p in ipairs(params.participant) do
    if (i - 1) % nthreads == id - 1 then table.insert(mine, p) end
  end
  contacts = params.contact
  occurred_at = params.occurred_at
  math.randomseed(os.time() * 1000 + id * 7919 + math.floor((os.clock() * 1e6) % 1e6))
  -- 8 random hex digits for this thread's run: ids never repeat those of another run
  prefix = string.format("%04x%04x", math.random(0, 0xffff), math.random(0, 0xffff))
  headers["Authorization"] = "Bearer " .. params.token
  headers["Content-Type"] = "application/json"
  non201 = 0
  statuses = {}
  shown = 0
end

-- A v4-layout UUID, unique per (run, thread, counter, kind).
local function new_uuid(kind)
  return string.format("%s-%04x-4%x%02x-%x%03x-%04x%08x", prefix, math.random(0, 0xffff), kind, id % 256,
    8 + math.random(0, 3), math.random(0, 0xfff), math.random(0, 0xffff), counter)
end

function request()
  counter = counter + 1
  local participant = mine[(counter % #mine) + 1]
  local contact = contacts[(counter % #contacts) + 1]
  local body = '{"type":"outreach_sent","occurred_at":"' .. occurred_at .. '","event_id":"' .. new_uuid(0)
    .. '","data":{"outreach_id":"' .. new_uuid(1) .. '","contact_id":"' .. contact
    .. '","channel":"email","purpose":"introduction"}}'
  return wrk.format("POST", "/v1/participants/" .. participant .. "/events", headers, body)
end

function response(status, hdrs, body)
  if status ~= 201 then
    non201 = non201 + 1
    statuses[status] = (statuses[status] or 0) + 1
    if shown < 3 then
      shown = shown + 1
      io.stderr:write("plwrk non-201: " .. status .. " " .. string.sub(body or "", 1, 300) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local non = 0
  local by_status = {}
  for _, thread in ipairs(threads) do
    non = non + (tonumber(thread:get("non201")) or 0)
    local s = thread:get("statuses")
    if s then
      for code, n in pairs(s) do by_status[#by_status + 1] = '"' .. code .. '":' .. n end
    end
  end
  local e = summary.errors
  io.write(string.format(
    'plwrk {"requests":%d,"duration_us":%d,"non201":%d,"statuses":{%s},"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"mean_us":%.1f}\n',
    summary.requests, summary.duration, non, table.concat(by_status, ","), e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
