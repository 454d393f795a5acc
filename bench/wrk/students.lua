-- wrk script: GET /api/v1/students/{id} with a Bearer token, ids drawn at random from a file.
--   wrk -t1 -c64 -d10s -s bench/wrk/students.lua http://127.0.0.1:8080 -- IDS_FILE TOKEN
local ids = {}
local token = ""

function init(args)
  local file = args[1]
  token = args[2] or ""
  for line in io.lines(file) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  if #ids == 0 then error("no ids in " .. tostring(file)) end
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
end

function request()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/api/v1/students/" .. id, { ["Authorization"] = "Bearer " .. token })
end
