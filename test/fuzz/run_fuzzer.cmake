# Runs one libFuzzer target for SECONDS from the SEEDS directory (copied into
# WORK, which keeps what the fuzzer finds between runs). Fails on any crash,
# leak, timeout or out-of-memory the fuzzer reports.
# SEEDS: directories separated by '|'.
file(MAKE_DIRECTORY ${WORK})
string(REPLACE "|" ";" seed_dirs "${SEEDS}")
foreach(dir ${seed_dirs})
  file(GLOB seeds ${dir}/*)
  file(COPY ${seeds} DESTINATION ${WORK})
endforeach()
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048 -max_len=65536
          -print_final_stats=1 ${WORK}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
string(REGEX MATCH "Done [0-9]+ runs in [0-9]+ second" done "${err}")
string(REGEX MATCH "stat::number_of_executed_units: *[0-9]+" execs "${err}")
message(STATUS "${FUZZER}: ${done}; ${execs}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzzer failed (exit ${rc}):\n${err}")
endif()
