-- wrk script: the mix of bench/scenarios/mix.toml, by weighted choice: 70 student profile reads
-- by a registrar (ids at random from IDS_FILE), 10 department list pages, 10 own-attendance reads
-- and 4 GET /api/v1/me by one student, 1 log-in of a random student (student101..student2100).
-- wrk is closed-loop and measures from the actual send: campushub-load is the open-loop reference.
-- Lift the log-in limits as for login.lua.
--   wrk -t1 -c64 -d10s --latency -s bench/wrk/mix.lua http://127.0.0.1:8080 -- IDS_FILE REGISTRAR_TOKEN STUDENT_ID STUDENT_TOKEN
local ids = {}
local staff, student = {}, {}
local own = ""
local choices = {}
local total = 0

local function add(weight, make)
  total = total + weight
  choices[#choices + 1] = { upto = total, make = make }
end

function init(args)
  if #args < 4 then error("usage: -- IDS_FILE REGISTRAR_TOKEN STUDENT_ID STUDENT_TOKEN") end
  for line in io.lines(args[1]) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  if #ids == 0 then error("no ids in " .. tostring(args[1])) end
  staff = { ["Authorization"] = "Bearer " .. args[2] }
  own = args[3]
  student = { ["Authorization"] = "Bearer " .. args[4] }
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
  add(70, function() return wrk.format("GET", "/api/v1/students/" .. ids[math.random(#ids)], staff) end)
  add(10, function() return wrk.format("GET", "/api/v1/departments?limit=20") end)
  add(10, function() return wrk.format("GET", "/api/v1/students/" .. own .. "/attendance", student) end)
  add(4, function() return wrk.format("GET", "/api/v1/me", student) end)
  add(1, function()
    local body = string.format('{"username":"student%d","password":"campushub-demo"}', 100 + math.random(2000))
    return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
  end)
end

function request()
  local x = math.random(total)
  for _, c in ipairs(choices) do
    if x <= c.upto then return c.make() end
  end
end
