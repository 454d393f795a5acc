-- wrk script: a student reading their own attendance (the last 30 days, per class presence).
-- STUDENT_ID is the student's sourced_id (GET /api/v1/me as that student), TOKEN their access token.
--   wrk -t1 -c64 -d10s --latency -s bench/wrk/attendance.lua http://127.0.0.1:8080 -- STUDENT_ID TOKEN
local path = ""
local headers = {}

function init(args)
  if not args[1] or not args[2] then error("usage: -- STUDENT_ID TOKEN") end
  path = "/api/v1/students/" .. args[1] .. "/attendance"
  headers = { ["Authorization"] = "Bearer " .. args[2] }
end

function request()
  return wrk.format("GET", path, headers)
end
